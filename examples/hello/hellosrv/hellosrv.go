// Package hellosrv is the hello service of the examples: a plain HTTP backend for the gateway's
// http handler. It is importable so that tests can serve it in-process; examples/hello wraps it in
// a program that registers it.
//
// Contract:
//   - GET /hello?name=x answers 200 {"message":"Hello x"} (application/json); without a name it
//     greets "world".
//   - GET /hello/events answers a text/event-stream of Config.Ticks "tick" events, one per
//     Config.Interval, each flushed as soon as it is written; event n has id n and data
//     {"seq":n,"time":"<RFC 3339>"}. The stream ends after the last event, or when the client
//     goes away.
//   - Every answer echoes the request's X-Forwarded-For (what the gateway saw of the client) in
//     X-Echo-Forwarded-For, for demonstration; the header is absent when the request had none.
//   - Other methods on these paths are 405 with Allow; other paths are 404.
package hellosrv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Name is the registry name of the hello service (/hello/... with the gateway's path resolver).
const Name = "go.micro.api.hello"

// EchoHeader carries the request's X-Forwarded-For back to the client.
const EchoHeader = "X-Echo-Forwarded-For"

// Defaults of Config.
const (
	DefaultTicks    = 3
	DefaultInterval = time.Second
)

// Config tunes the service; zero values mean the documented defaults.
type Config struct {
	// Ticks is the number of events /hello/events sends; default 3.
	Ticks int
	// Interval is the time between events; default 1s.
	Interval time.Duration
	// NewTicker paces the events; nil means time.NewTicker. Tests pass a channel they feed, to
	// see each event arrive before the next one is written.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
}

type handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the service's handler.
func New(cfg Config) http.Handler {
	if cfg.Ticks <= 0 {
		cfg.Ticks = DefaultTicks
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /hello", h.hello)
	h.mux.HandleFunc("GET /hello/events", h.events)
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		w.Header().Set(EchoHeader, strings.Join(xff, ", "))
	}
	h.mux.ServeHTTP(w, r)
}

// Greeting is the body of GET /hello.
type Greeting struct {
	Message string `json:"message"`
}

func (h *handler) hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	body, _ := json.Marshal(Greeting{Message: "Hello " + name})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// Tick is the data of one event of GET /hello/events.
type Tick struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // tells buffering proxies (nginx) to pass events on
	w.WriteHeader(http.StatusOK)
	// The headers go out now, so the client knows the stream started before the first event.
	if err := rc.Flush(); err != nil {
		return
	}
	ticks, stop := h.cfg.NewTicker(h.cfg.Interval)
	defer stop()
	for seq := 1; seq <= h.cfg.Ticks; seq++ {
		var now time.Time
		select {
		case <-r.Context().Done():
			return
		case now = <-ticks:
		}
		data, _ := json.Marshal(Tick{Seq: seq, Time: now.UTC()})
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", seq, data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
