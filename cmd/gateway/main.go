// Command gateway is the edge API gateway: `gateway serve` (the default) runs the HTTP server
// configured by config.yaml. It builds every dependency (registry, selector, connection pool,
// descriptors, handlers, router) and wires them; no package below keeps a mutable default.
//
// The same binary is the command-line client, reading the same configuration:
//
//	gateway call go.micro.api.orderservice OrderSrv.GetOrder '{"id":1}'
//	gateway services
//	gateway describe go.micro.api.orderservice
//	gateway publish user '{"name":"john"}'
//	gateway health go.micro.api.orderservice
//
// Exit codes: 0 success (for serve: a clean shutdown), 1 the operation failed, 2 a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/gcfloor"
)

const usage = `Usage: gateway [command] [flags] [arguments]

Commands:
  serve       run the gateway (default)
  call        call a service's endpoint with a JSON request
  services    list the services in the registry
  describe    show a service's methods and message schemas
  publish     publish an event to the broker
  health      check a service's nodes, the registry, or a running gateway
  help        show this help, or a command's: gateway help <command>

Run 'gateway <command> -h' for a command's flags.
Exit status: 0 success, 1 the operation failed, 2 usage error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	switch cmd {
	case "serve":
		return serveCmd(args, getenv, stderr)
	case "call":
		return c.call(args)
	case "services":
		return c.services(args)
	case "describe":
		return c.describe(args)
	case "publish":
		return c.publish(args)
	case "health":
		return c.health(args)
	case "help":
		if len(args) == 1 && args[0] != "help" && args[0] != "serve" {
			return run([]string{args[0], "-help"}, getenv, stdin, stdout, stderr)
		}
		if len(args) == 1 && args[0] == "serve" {
			fmt.Fprintln(stdout, "Usage: gateway serve [flags]")
			config.Usage(stdout)
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func serveCmd(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "Usage: gateway serve [flags]")
		config.Usage(stderr)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	// The collector's setting is the process's: set here, by the binary, never by tests that
	// run gateways side by side in one process.
	defer gcfloor.Start(gcfloor.Config{MinHeap: int64(cfg.Runtime.GCMinHeap), MemoryLimit: int64(cfg.Runtime.MemoryLimit)}, getenv, log)()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw, err := newGateway(ctx, cfg, log)
	if err != nil {
		log.Error("gateway failed to start", "error", err)
		return 1
	}
	reload := func() (config.Config, error) { return config.Load(args, getenv) }
	if err := gw.run(ctx, reload); err != nil {
		log.Error("gateway stopped with an error", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
