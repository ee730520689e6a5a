package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/registry"
)

var healthCommand = command{
	name:     "health",
	synopsis: "[service]",
	maxArgs:  1,
	about: `With a service: runs the standard gRPC health check (grpc.health.v1.Health/Check) on every
node of the service in the registry, at once, and prints each node's answer: SERVING,
NOT_SERVING, SERVICE_UNKNOWN, unreachable (no connection, or no answer in time), or error
(e.g. the node serves no health service). --grpc-service names the service to ask about
(default "": the server as a whole).

Without a service: with --gateway, asks the running gateway (GET <URL>/health/ready) and prints
its answer; otherwise checks that the registry answers and lists its services.

Exit status: 0 everything checked is healthy; 1 a node is not SERVING, the gateway is not
ready, or the registry cannot be read; 2 usage error.
`,
}

// nodeHealth is one node's answer.
type nodeHealth struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Status is SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN, unreachable or error.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func (c *cli) health(args []string) int {
	cmd := healthCommand
	fs := cmd.flagSet()
	var f commonFlags
	f.addConfig(fs)
	f.addTimeout(fs, 5*time.Second, "`deadline` of each check (and of reading the registry)")
	f.addJSON(fs)
	gw := fs.String("gateway", "", "check the running gateway at `URL` (GET /health/ready) instead of the registry")
	grpcService := fs.String("grpc-service", "", "service `name` to ask the nodes' health service about (default: the whole server)")
	pos, code, ok := c.parse(cmd, fs, args)
	if !ok {
		return code
	}
	if f.timeout <= 0 {
		return c.usage(cmd, fmt.Errorf("-timeout %s: must be positive", f.timeout))
	}
	if *gw != "" && len(pos) > 0 {
		return c.usage(cmd, errors.New("-gateway checks the gateway itself; leave the service out, or drop -gateway to check the service's nodes"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *gw != "" {
		return c.gatewayHealth(ctx, cmd, *gw, f.timeout)
	}
	cfg, err := c.loadConfig(fs, &f)
	if err != nil {
		return c.usage(cmd, err)
	}
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if len(pos) == 0 {
		list, err := listServices(rctx, cfg, c.logger(&f))
		if err != nil {
			return c.fail(cmd, apierror.GatewayID, err)
		}
		if f.json {
			if list == nil {
				list = []*registry.Service{}
			}
			_ = c.printValue(struct {
				Registry string              `json:"registry"`
				Status   string              `json:"status"`
				Services []*registry.Service `json:"services"`
			}{cfg.Registry.Type, "reachable", list})
			return exitOK
		}
		fmt.Fprintf(c.stdout, "registry %s: reachable, %d services\n", cfg.Registry.Type, len(list))
		if len(list) > 0 {
			writeServices(c.stdout, list, cfg.Registry.Type)
		}
		return exitOK
	}

	service := pos[0]
	reg, release, err := openRegistry(rctx, cfg, c.logger(&f))
	if err != nil {
		return c.fail(cmd, service, err)
	}
	svc, err := reg.GetService(rctx, service)
	release()
	if err != nil {
		if !errors.Is(err, registry.ErrNotFound) {
			err = registryError(cfg, err)
		}
		return c.fail(cmd, service, err)
	}
	results := checkNodes(ctx, svc.Nodes, *grpcService, f.timeout)
	if f.json {
		_ = c.printValue(results)
	} else {
		writeNodeHealth(c.stdout, results)
	}
	for _, r := range results {
		if r.Status != healthpb.HealthCheckResponse_SERVING.String() {
			return exitFail
		}
	}
	return exitOK
}

// checkNodes asks every node at once and returns the answers in node order.
func checkNodes(ctx context.Context, nodes []registry.Node, grpcService string, timeout time.Duration) []nodeHealth {
	out := make([]nodeHealth, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			out[i] = checkNode(ctx, n, grpcService, timeout)
		})
	}
	wg.Wait()
	return out
}

func checkNode(ctx context.Context, n registry.Node, grpcService string, timeout time.Duration) nodeHealth {
	r := nodeHealth{ID: n.ID, Address: n.Address}
	cc, err := grpc.NewClient("passthrough:///"+n.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.Status, r.Detail = "unreachable", err.Error()
		return r
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService})
	switch st := status.Convert(err); {
	case err == nil:
		r.Status = res.GetStatus().String()
	case st.Code() == codes.Unavailable:
		r.Status, r.Detail = "unreachable", st.Message()
	case st.Code() == codes.DeadlineExceeded:
		r.Status, r.Detail = "unreachable", fmt.Sprintf("no answer within %s", timeout)
	case st.Code() == codes.Unimplemented:
		r.Status, r.Detail = "error", "the node serves no grpc.health.v1.Health service"
	case st.Code() == codes.NotFound:
		// The health service's answer for a service name it does not know.
		r.Status, r.Detail = healthpb.HealthCheckResponse_SERVICE_UNKNOWN.String(), st.Message()
	default:
		r.Status, r.Detail = "error", fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return r
}

func writeNodeHealth(w io.Writer, results []nodeHealth) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSTATUS\tDETAIL")
	for _, r := range results {
		line := r.ID + "\t" + r.Address + "\t" + r.Status
		if r.Detail != "" {
			line += "\t" + r.Detail
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// gatewayHealth asks a running gateway whether it is ready and prints its answer.
func (c *cli) gatewayHealth(ctx context.Context, cmd command, base string, timeout time.Duration) int {
	u, err := gatewayURL(base, "/health/ready")
	if err != nil {
		return c.usage(cmd, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return c.usage(cmd, err)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, apierror.New(http.StatusBadGateway, "cannot reach the gateway at %s: %v", base, err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, apierror.New(http.StatusBadGateway, "reading the gateway's answer: %v", err))
	}
	_ = writeJSON(c.stdout, body, isTerminal(c.stdout))
	if res.StatusCode != http.StatusOK {
		return exitFail
	}
	return exitOK
}
