// Command chat is the chat service of the examples: a WebSocket chat room served over plain
// HTTP and registered as go.micro.api.chat in the registry the gateway's config file describes,
// for the gateway's web handler (route path /chat/*, handler web). GET /chat/ is a small HTML
// page; /chat/ws is the room (subprotocol chat.v1, nickname from ?nick=).
//
//	go run ./examples/chat --config config.yaml --address 127.0.0.1:9094
//	open http://localhost:8080/chat/   # through the gateway, in two browser tabs
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/examples/chat/chatroom"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry/open"
)

func main() {
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its registry section says where to register")
	address := flag.String("address", "127.0.0.1:9094", "listen address (port 0 picks a free port)")
	origins := flag.String("allow-origin", "http://localhost:8080,http://127.0.0.1:8080",
		"comma-separated browser origins allowed to open the WebSocket besides this server's own (the gateway's), or *")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := chatroom.Config{AllowedOrigins: splitList(*origins)}
	if err := run(ctx, *configPath, explicit, *address, cfg, log); err != nil {
		log.Error("chat service failed", "error", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, explicit bool, address string, room chatroom.Config, log *slog.Logger) error {
	cfg, err := launch.LoadConfig(configPath, explicit)
	if err != nil {
		return err
	}
	reg, release, err := open.Registry(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer release()
	return serve(ctx, reg, address, room, log)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
