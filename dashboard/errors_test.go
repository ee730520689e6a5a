package dashboard_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/dashboard"
	"github.com/edgeapi/gateway/router"
)

// serve runs h behind the router's RequestID middleware and the recorder.
func serve(rec *dashboard.Recorder, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	router.RequestID(rec.Middleware(h)).ServeHTTP(w, r)
	return w
}

func TestRecorderKeepsErrorsOnly(t *testing.T) {
	rec := dashboard.NewRecorder(10)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fine")) })
	fail := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		apierror.Write(w, "go.micro.api.orders", apierror.New(http.StatusNotFound, "order 9 not found"))
	})
	proxied := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<h1>bad gateway</h1>"))
	})
	serve(rec, ok, "GET", "/fine")
	serve(rec, fail, "POST", "/orders/9", "X-Request-Id", "req-1")
	serve(rec, proxied, "GET", "/hello")
	got := rec.Recent()
	if len(got) != 2 || rec.Total() != 2 {
		t.Fatalf("recorded %d (total %d): %+v", len(got), rec.Total(), got)
	}
	if e := got[1]; e.RequestID != "req-1" || e.Status != 404 || e.Method != "POST" || e.Path != "/orders/9" ||
		e.ID != "go.micro.api.orders" || e.Detail != "order 9 not found" || e.Body != "" {
		t.Errorf("error body entry %+v", e)
	}
	if e := got[0]; e.Status != 502 || e.Body != "<h1>bad gateway</h1>" || e.RequestID == "" || e.Detail != "" {
		t.Errorf("proxied entry %+v", e)
	}
}

func TestRecorderIsBounded(t *testing.T) {
	rec := dashboard.NewRecorder(3)
	big := strings.Repeat("x", 3*dashboard.MaxErrorBody)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(r.URL.Path))
		_, _ = w.Write([]byte(big))
	})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { serve(rec, h, "GET", fmt.Sprintf("/n%d", i)) })
	}
	wg.Wait()
	for i := 20; i < 23; i++ {
		serve(rec, h, "GET", fmt.Sprintf("/n%d", i))
	}
	got := rec.Recent()
	if len(got) != 3 || rec.Total() != 23 {
		t.Fatalf("kept %d of %d", len(got), rec.Total())
	}
	for i, e := range got { // newest first
		if want := fmt.Sprintf("/n%d", 22-i); e.Path != want {
			t.Errorf("entry %d is %s, want %s", i, e.Path, want)
		}
		if len(e.Body) != dashboard.MaxErrorBody {
			t.Errorf("kept %d bytes of the body, want %d", len(e.Body), dashboard.MaxErrorBody)
		}
	}
}

// hijackable is a ResponseWriter that can be hijacked and flushed.
type hijackable struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return nil, nil, nil
}

func TestRecorderPassesThroughStreamsAndUpgrades(t *testing.T) {
	rec := dashboard.NewRecorder(3)
	var flushed, hijacked bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			_, _, err := w.(http.Hijacker).Hijack()
			hijacked = err == nil
			return
		}
		_, _ = w.Write([]byte("{}\n"))
		flushed = http.NewResponseController(w).Flush() == nil
	})
	hw := &hijackable{ResponseRecorder: httptest.NewRecorder()}
	rec.Middleware(h).ServeHTTP(hw, httptest.NewRequest("GET", "/ws", nil))
	rec.Middleware(h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stream", nil))
	if !hijacked || !hw.hijacked || !flushed {
		t.Errorf("hijacked %v (underlying %v), flushed %v", hijacked, hw.hijacked, flushed)
	}
	if n := len(rec.Recent()); n != 0 {
		t.Errorf("recorded %d", n)
	}
}
