// Package serve runs the bench's HTTP peers: an http.Server that stops when its context ends,
// which the harness ends with SIGTERM.
package serve

import (
	"context"
	"errors"
	"net/http"
)

// HTTP serves srv until ctx ends, then closes it (every connection at once: the peers hold no
// state worth draining). It returns nil after a close and the listener's error otherwise.
func HTTP(ctx context.Context, srv *http.Server) error {
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
