// Command subscriber prints the events the gateway's event handler publishes: it reads the
// JetStream stream of events (events.stream in the gateway's config file, default
// GATEWAY_EVENTS) on the gateway's NATS server through a durable consumer filtered to
// "<namespace>.>" (or one topic; "events" stands in for an empty namespace, as in the gateway),
// prints one line per event and acknowledges it.
//
//	go run ./examples/subscriber --config config.yaml [--topic user] [--address nats://127.0.0.1:4222]
//	curl -X POST localhost:8080/events/user/login -H 'Content-Type: application/json' -d '{"user":"john"}'
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/examples/subscriber/eventsub"
	"github.com/edgeapi/gateway/registry/open"
)

func main() {
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its nats, events and resolver sections say where the events are")
	address := flag.String("address", "", "NATS server URL (default: nats.url from the config, else the gateway's embedded server)")
	topic := flag.String("topic", "", "print only this topic's events (default: every topic)")
	durable := flag.String("durable", "", "consumer name, to resume where a previous run stopped (default: subscriber[-<topic>])")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, eventsub.Config{Topic: *topic, Durable: *durable}, os.Stdout, log); err != nil {
		log.Error("subscriber failed", "error", err)
		stop()
		os.Exit(1)
	}
}

// run reads the config, connects to its NATS server (or address) and prints events to out until
// ctx is done. The stream and namespace come from the config; sub supplies topic and durable.
func run(ctx context.Context, configPath string, explicit bool, address string, sub eventsub.Config, out io.Writer, log *slog.Logger) error {
	cfg, err := launch.LoadConfig(configPath, explicit)
	if err != nil {
		return err
	}
	if address != "" {
		cfg.NATS.URL = address
	}
	nc, err := open.ConnectNATS(cfg, "subscriber")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sub.Stream = cfg.Events.Stream
	// The gateway publishes under its namespace, or under "events" when the namespace is empty
	// (cmd/gateway's eventPrefix).
	sub.Namespace = cfg.Resolver.NamespaceOrDefault()
	if sub.Namespace == "" {
		sub.Namespace = "events"
	}
	return eventsub.Run(ctx, js, sub, out, log)
}
