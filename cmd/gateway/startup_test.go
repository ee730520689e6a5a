package main

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/config"
)

// TestStartupErrorsAreErrors: a gateway that cannot start (here: the embedded NATS port is
// taken) returns an error naming the cause and releases what it built, instead of panicking.
func TestStartupErrorsAreErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	cfg, err := config.Parse([]byte("server:\n  address: 127.0.0.1:0\nnats:\n  embedded:\n    port: " +
		strconv.Itoa(port) + "\n    store_dir: " + t.TempDir() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := newGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		gw.close()
		t.Fatal("newGateway succeeded with the NATS port taken")
	}
	if !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("error %q does not say what failed", err)
	}
}
