// Package natsserver runs an embedded NATS server with JetStream on disk: the gateway's
// zero-infrastructure default, serving both as the registry (a KV bucket, see registry/nats)
// and as the broker.
//
// # Contract
//
//   - Start listens for NATS clients on Config.Host:Config.Port (default 127.0.0.1:4222) and
//     nowhere else: no cluster routes, gateways, leaf nodes, websocket or monitoring listeners.
//     It returns only once the server accepts connections and JetStream is enabled, or an error
//     (after at most 10s, or earlier when ctx ends); a server that failed to start is shut down
//     before Start returns.
//   - JetStream keeps its streams under Config.StoreDir (default "data/nats", relative to the
//     working directory), so streams, KV buckets and their unexpired entries survive a restart
//     on the same directory.
//   - The server installs no signal handlers. Its log lines go to the injected *slog.Logger:
//     warnings at Warn, errors at Error, notices at Debug; debug and trace output is off.
//   - InProcessConn connects a client in the same process without a socket; such clients are
//     closed by Shutdown like the others.
//   - Shutdown closes every client connection, stops the server and waits until every goroutine
//     it started has returned. It is safe to call more than once and from several goroutines.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of Config fields left zero.
const (
	DefaultHost     = "127.0.0.1"
	DefaultPort     = 4222
	DefaultStoreDir = "data/nats"
)

// RandomPort as Config.Port lets the operating system pick a free port (tests).
const RandomPort = -1

// readyTimeout bounds how long Start waits for the server to accept connections.
const readyTimeout = 10 * time.Second

// Config tunes the embedded server; zero values mean the documented defaults.
type Config struct {
	// Host is the address to listen on; default 127.0.0.1 (this machine only).
	Host string
	// Port is the client port; default 4222, RandomPort (-1) for any free port.
	Port int
	// StoreDir is the directory JetStream keeps its data in; default "data/nats".
	StoreDir string
	// MaxMemory caps JetStream's memory storage in bytes; 0 means the server's default
	// (75% of the machine's memory).
	MaxMemory int64
	// MaxStore caps JetStream's file storage in bytes; 0 means the server's default (up to 1 TB,
	// bounded by the free disk space).
	MaxStore int64
}

func (c Config) withDefaults() (Config, error) {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	switch {
	case c.Port == 0:
		c.Port = DefaultPort
	case c.Port < RandomPort || c.Port > 65535:
		return c, fmt.Errorf("natsserver: port %d out of range (0-65535, or -1 for random)", c.Port)
	}
	if c.StoreDir == "" {
		c.StoreDir = DefaultStoreDir
	}
	if c.MaxMemory < 0 {
		return c, fmt.Errorf("natsserver: max memory %d is negative", c.MaxMemory)
	}
	if c.MaxStore < 0 {
		return c, fmt.Errorf("natsserver: max store %d is negative", c.MaxStore)
	}
	return c, nil
}

// Server is a running embedded NATS server. Create with Start, stop with Shutdown.
type Server struct {
	ns   *server.Server
	log  *slog.Logger
	once sync.Once
}

// Start starts the server and waits until it accepts connections. A nil log discards.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natsserver: %w", context.Cause(ctx))
	}
	opts := &server.Options{
		Host:                   cfg.Host,
		Port:                   cfg.Port,
		JetStream:              true,
		StoreDir:               cfg.StoreDir,
		JetStreamMaxMemory:     cfg.MaxMemory,
		JetStreamMaxStore:      cfg.MaxStore,
		NoSigs:                 true,
		DisableJetStreamBanner: true,
		// HTTPPort, Cluster, Gateway, LeafNode and Websocket stay zero: no other listener.
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	logger := newLogger(log)
	ns.SetLoggerV2(logger, false, false, false)
	s := &Server{ns: ns, log: log}

	ns.Start()
	if err := s.waitReady(ctx, logger.fatal); err != nil {
		s.Shutdown()
		return nil, err
	}
	if !ns.JetStreamEnabled() {
		s.Shutdown()
		return nil, errors.New("natsserver: JetStream is not enabled")
	}
	log.Info("embedded NATS server ready", "url", s.ClientURL(), "store_dir", cfg.StoreDir)
	return s, nil
}

// waitReady polls until the server accepts connections, it logged a fatal error, ctx ends or
// readyTimeout passes.
func (s *Server) waitReady(ctx context.Context, fatal <-chan string) error {
	deadline := time.Now().Add(readyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		if s.ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		select {
		case msg := <-fatal:
			return fmt.Errorf("natsserver: %s", msg)
		default:
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("natsserver: waiting for the server: %w", context.Cause(ctx))
		}
		if time.Now().After(deadline) {
			return errors.New("natsserver: server not ready for connections in time")
		}
	}
}

// ClientURL returns the URL clients connect to, e.g. nats://127.0.0.1:4222 (with the port
// actually chosen when Config.Port was RandomPort).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// InProcessConn returns a connection to the server that is not a socket, for clients in this
// process (nats.InProcessServer(s)): no loopback TCP stack on either side of every message.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// Shutdown stops the server and waits for it. Safe to call more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.log.Debug("embedded NATS server stopped")
	})
}
