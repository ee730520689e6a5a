package event_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/handler/event"
)

// publishN posts n events through the gateway from workers concurrent clients, each waiting
// for its 202 (the broker's acknowledgement), and returns the first error.
func publishN(url string, n, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				resp, err := client.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"user":"u%d","ok":true}`, i)))
				if err != nil {
					errs <- err
					return
				}
				// Read to EOF: a body closed unread costs the connection, and the benchmark
				// would measure TCP dials instead of events.
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("event %d: status %d", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestEventRate logs acknowledged events per second through the gateway (HTTP -> JetStream on
// the embedded server, file storage), sequential and with 16 concurrent publishers. It asserts
// nothing about speed. For meaningful numbers run it without -race:
//
//	go test -run TestEventRate -v ./handler/event/
func TestEventRate(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const n = 1000
	e := newEnv(t, event.Config{})
	for _, workers := range []int{1, 16} {
		start := time.Now()
		if err := publishN(e.URL+"/user/login", n, workers); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("%2d publisher(s): %d acknowledged events in %v: %.0f events/s", workers, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
	if got := streamMsgs(t, e.NC); got != 2*n {
		t.Fatalf("stream holds %d events, want %d", got, 2*n)
	}
}

// BenchmarkEventPublish: one op is one event acknowledged by JetStream, through the gateway.
//
//	go test -run '^$' -bench EventPublish -benchtime 5000x ./handler/event/
func BenchmarkEventPublish(b *testing.B) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", workers), func(b *testing.B) {
			e := newEnv(b, event.Config{})
			b.ResetTimer()
			if err := publishN(e.URL+"/user/login", b.N, workers); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
