package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgeapi/gateway/registry"
)

// Announce keeps svc's nodes registered until ctx is done: it registers now and again every
// interval (the heartbeat that TTL-based registries need), logging a failing registry once per
// outage, and when ctx ends it deregisters with a fresh, bounded context. It blocks; run it on a
// goroutine you own and wait for it, so no Register can land after the Deregister. Any backend can
// use it: the gRPC Server does, and so do the HTTP examples.
func Announce(ctx context.Context, reg registry.Registrar, svc *registry.Service, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, interval)
		err := reg.Register(rctx, svc.Clone())
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			// shutting down; not a registry problem
		case err != nil && !failing:
			failing = true
			log.Warn("register failed, retrying every heartbeat", "service", svc.Name, "error", err)
		case err == nil && failing:
			failing = false
			log.Info("registered again", "service", svc.Name)
		}
		select {
		case <-ctx.Done():
			deregister(ctx, reg, svc, log)
			return
		case <-t.C:
		}
	}
}

func deregister(ctx context.Context, reg registry.Registrar, svc *registry.Service, log *slog.Logger) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deregisterTimeout)
	defer cancel()
	if err := reg.Deregister(dctx, svc.Clone()); err != nil {
		log.Warn("deregister failed", "service", svc.Name, "error", err)
		return
	}
	log.Info("deregistered", "service", svc.Name)
}
