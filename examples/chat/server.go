package main

import (
	"context"
	"log/slog"

	"github.com/edgeapi/gateway/examples/chat/chatroom"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry"
)

// serve runs the chat room at address until ctx is done, registered in reg when reg takes
// registrations; on the way out every WebSocket is closed with 1001.
func serve(ctx context.Context, reg registry.Registry, address string, cfg chatroom.Config, log *slog.Logger) error {
	room := chatroom.New(cfg, log)
	return launch.ServeHTTP(ctx, reg, address, launch.HTTPService{
		Name:     chatroom.Name,
		Handler:  room,
		Metadata: map[string]string{"protocol": "http", "websocket": chatroom.Subprotocol},
		Shutdown: room.Shutdown,
	}, log)
}
