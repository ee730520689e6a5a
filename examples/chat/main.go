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
	"strings"

	"github.com/edgeapi/gateway/examples/chat/chatroom"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry"
)

func main() {
	origins := flag.String("allow-origin", "http://localhost:8080,http://127.0.0.1:8080",
		"comma-separated browser origins allowed to open the WebSocket besides this server's own (the gateway's), or *")
	launch.Main("chat service", "127.0.0.1:9094", func(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error {
		return serve(ctx, reg, address, chatroom.Config{AllowedOrigins: splitList(*origins)}, log)
	})
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
