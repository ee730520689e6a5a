// Command hello is the hello service of the examples: a plain HTTP server (no gRPC) registered
// as go.micro.api.hello in the registry the gateway's config file describes, for the gateway's
// http handler. It answers JSON greetings and a short server-sent event stream, and echoes the
// X-Forwarded-For it received in X-Echo-Forwarded-For.
//
//	go run ./examples/hello --config config.yaml --address 127.0.0.1:9093
//	curl -i 'localhost:8080/hello?name=john'   # through the gateway (route /hello/* -> http)
//	curl -N localhost:8080/hello/events
package main

import (
	"context"
	"log/slog"

	"github.com/edgeapi/gateway/examples/hello/hellosrv"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry"
)

func main() {
	launch.Main("hello service", "127.0.0.1:9093", func(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error {
		return serve(ctx, reg, address, hellosrv.Config{}, log)
	})
}
