package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/registry"
)

var servicesCommand = command{
	name:     "services",
	synopsis: "",
	maxArgs:  0,
	about: `Lists the services in the configured registry: name, node count and the nodes' addresses,
ordered by name. --json prints the registry's own records (name, version, metadata, nodes,
endpoints) as a JSON array.

Exit status: 0 success; 1 the registry could not be read; 2 usage error.
`,
}

func (c *cli) services(args []string) int {
	cmd := servicesCommand
	fs := cmd.flagSet()
	var f commonFlags
	f.addConfig(fs)
	f.addTimeout(fs, 10*time.Second, "`deadline` for reading the registry")
	f.addJSON(fs)
	if _, code, ok := c.parse(cmd, fs, args); !ok {
		return code
	}
	if f.timeout <= 0 {
		return c.usage(cmd, fmt.Errorf("-timeout %s: must be positive", f.timeout))
	}
	cfg, err := c.loadConfig(fs, &f)
	if err != nil {
		return c.usage(cmd, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	list, err := listServices(ctx, cfg, c.logger(&f))
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, err)
	}
	if f.json {
		if list == nil {
			list = []*registry.Service{}
		}
		_ = c.printValue(list)
		return exitOK
	}
	writeServices(c.stdout, list, cfg.Registry.Type)
	return exitOK
}

// writeServices prints one line per service: name, node count, addresses.
func writeServices(w io.Writer, list []*registry.Service, regType string) {
	if len(list) == 0 {
		fmt.Fprintf(w, "no services in the %s registry\n", regType)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tNODES\tADDRESSES")
	for _, s := range list {
		addrs := make([]string, 0, len(s.Nodes))
		for _, n := range s.Nodes {
			addrs = append(addrs, n.Address)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Name, len(s.Nodes), strings.Join(addrs, ", "))
	}
	_ = tw.Flush()
}

// listServices reads every service from the configured registry, ordered by name.
func listServices(ctx context.Context, cfg config.Config, log *slog.Logger) ([]*registry.Service, error) {
	reg, release, err := openRegistry(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer release()
	list, err := reg.ListServices(ctx)
	if err != nil {
		return nil, registryError(cfg, err)
	}
	slices.SortFunc(list, func(a, b *registry.Service) int { return cmp.Compare(a.Name, b.Name) })
	return list, nil
}
