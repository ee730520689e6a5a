// Command load is the harness's load generator on its own, for trying one target by hand:
//
//	load -addr 127.0.0.1:8080 -path /hello -c 64 -d 10s            # closed loop: throughput
//	load -addr 127.0.0.1:8080 -path /hello -c 64 -d 10s -rate 5000 # open loop: latency
//	load -ws ws://127.0.0.1:8080/ws -body hello -d 5s              # WebSocket echo
//
// Runs are bounded by -d and -n. It prints throughput, p50, p90, p99, p99.9, max and errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/edgeapi/gateway/bench/internal/loadgen"
)

func main() {
	addr := flag.String("addr", "", "HTTP target host:port")
	path := flag.String("path", "/", "HTTP request path")
	method := flag.String("method", "GET", "HTTP method")
	body := flag.String("body", "", "request body (HTTP: sent with Content-Type application/json when not empty)")
	status := flag.Int("status", 200, "expected HTTP status")
	ws := flag.String("ws", "", "WebSocket URL (ws://host:port/path) instead of HTTP")
	conns := flag.Int("c", 64, "connections")
	rate := flag.Float64("rate", 0, "requests per second (open loop); 0: closed loop")
	d := flag.Duration("d", 10*time.Second, "duration")
	n := flag.Int64("n", 0, "maximum requests (0: no bound but -d)")
	flag.Parse()

	var dial loadgen.Dialer
	switch {
	case *ws != "":
		dial = (&loadgen.WebSocket{URL: *ws, Msg: []byte(*body)}).Dial
	case *addr != "":
		var b []byte
		hdr := map[string]string{}
		if *body != "" {
			b = []byte(*body)
			hdr["Content-Type"] = "application/json"
		}
		dial = (&loadgen.HTTP{Addr: *addr, WantStatus: *status, Request: loadgen.NewRequest(*method, *addr, *path, hdr, b)}).Dial
	default:
		log.Fatal("load: -addr or -ws is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, loadgen.Config{Conns: *conns, Rate: *rate, Duration: *d, MaxRequests: *n}, dial)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("requests %d  errors %d  %.0f/s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		res.Requests, res.Errors, res.Throughput(), res.P(50), res.P(90), res.P(99), res.P(99.9), res.P(100))
	if res.FirstErr != nil {
		fmt.Printf("first error: %v\n", res.FirstErr)
	}
}
