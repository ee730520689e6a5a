package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"syscall"

	"github.com/edgeapi/gateway/config"
)

// reload loads the configuration again and, if it is valid and buildable, swaps in a routing
// built from it; requests in flight finish on the routing they started with. An invalid config
// is rejected with a log line saying why, and the running one stays. Keys that describe the
// process rather than the routing (listener, TLS, registry, NATS, events stream, descriptor
// sources) keep their running values: the log names the ones that changed.
func (g *gateway) reload(ctx context.Context, load func() (config.Config, error)) error {
	next, err := load()
	if err == nil {
		err = next.Validate() // a loader that did not validate must not get past this
	}
	if err != nil {
		g.log.Error("config reload rejected; the running config stays", "error", err)
		return err
	}
	cur := g.routing.Load().cfg
	if keys := restartKeys(cur, next); len(keys) > 0 {
		g.log.Warn("config reload: these keys take effect only after a restart", "keys", keys)
	}
	// The process-level settings stay as they are.
	next.Server, next.Registry, next.NATS, next.Events = cur.Server, cur.Registry, cur.NATS, cur.Events
	next.RPC.Services, next.RPC.DialTimeout, next.Observe = cur.RPC.Services, cur.RPC.DialTimeout, cur.Observe
	if g.pub == nil && usesHandler(next, "event") {
		err := errors.New("the new config routes events, but the running gateway has no broker connection; restart to enable events")
		g.log.Error("config reload rejected; the running config stays", "error", err)
		return err
	}
	rt, err := g.buildRouting(ctx, next)
	if err != nil {
		g.log.Error("config reload rejected; the running config stays", "error", err)
		return err
	}
	g.install(rt)
	g.log.Info("config reloaded", "routes", len(next.Routes))
	return nil
}

// restartKeys names the top-level sections that differ but are not reloaded.
func restartKeys(cur, next config.Config) []string {
	var keys []string
	for name, pair := range map[string][2]any{
		"server":           {cur.Server, next.Server},
		"registry":         {cur.Registry, next.Registry},
		"nats":             {cur.NATS, next.NATS},
		"events":           {cur.Events, next.Events},
		"rpc.services":     {cur.RPC.Services, next.RPC.Services},
		"rpc.dial_timeout": {cur.RPC.DialTimeout, next.RPC.DialTimeout},
		"observability":    {cur.Observe, next.Observe},
		"log":              {cur.Log, next.Log},
		"selector":         {cur.Selector, next.Selector},
		"upstream":         {cur.Upstream, next.Upstream},
		"runtime":          {cur.Runtime, next.Runtime},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			keys = append(keys, name)
		}
	}
	return keys
}

// reloadOnHUP reloads on every SIGHUP until ctx is done; it returns a function that stops it
// and waits.
func (g *gateway) reloadOnHUP(ctx context.Context, load func() (config.Config, error)) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = g.reload(ctx, load)
			}
		}
	})
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
}
