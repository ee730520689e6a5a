package nats

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// NewWithoutMarkers is New on a bucket without expiry markers, as on a NATS server older than
// 2.11, so tests reach the sweeper.
func NewWithoutMarkers(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*Registry, error) {
	return newRegistry(ctx, nc, cfg, log, false)
}

var (
	Escape    = escape
	Unescape  = unescape
	NodeKey   = nodeKey
	ParseKey  = parseKey
	KeyPrefix = keyPrefix
)
