package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/resolver"
)

func TestBuffersClasses(t *testing.T) {
	var p Buffers
	for _, tc := range []struct{ n, wantCap int }{
		{0, 4 << 10}, {1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 16 << 10}, {64 << 10, 64 << 10},
		{1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1},
	} {
		b := p.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.wantCap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tc.n, len(*b), cap(*b), tc.n, tc.wantCap)
		}
		p.Put(b)
	}
	// A buffer that grew past its class is filed under the class its capacity covers, and what
	// comes back from a class is at least that class's size.
	grown := make([]byte, 10, 20<<10)
	p.Put(&grown)
	for range 3 { // sync.Pool may drop puts; a fresh buffer is fine too, if large enough
		if b := p.Get(16 << 10); cap(*b) < 16<<10 {
			t.Fatalf("Get(16 KiB) returned cap %d", cap(*b))
		}
	}
	small, huge := make([]byte, 0, 100), make([]byte, 0, 2<<20)
	p.Put(&small) // left to the collector, without a panic
	p.Put(&huge)
	p.Put(nil)

	var none *Buffers // nil: allocates, recycles nothing
	if b := none.Get(10); len(*b) != 10 {
		t.Errorf("nil Get(10) has len %d", len(*b))
	}
	none.Put(&small)
}

// chunked hides a reader's type, so nothing can learn the body's length in advance.
type chunked struct{ io.Reader }

func (chunked) Close() error { return nil }

func TestReadBody(t *testing.T) {
	const limit = 100 << 10
	body := func(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }
	type tc struct {
		name   string
		req    func() *http.Request
		want   []byte // nil with wantErr
		status int    // apierror status expected; 0: a plain read error
	}
	withLen := func(declared int64, r func() io.Reader) func() *http.Request {
		return func() *http.Request {
			req := httptest.NewRequest("POST", "/", nil)
			req.Body, req.ContentLength = chunked{r()}, declared
			return req
		}
	}
	plain := func(b []byte) func() io.Reader { return func() io.Reader { return bytes.NewReader(b) } }
	var cases []tc
	for _, n := range []int{0, 1, 511, 512, 4095, 4096, 4097, 70 << 10, limit} {
		b := body(n)
		cases = append(cases,
			tc{name: fmt.Sprintf("%d bytes, Content-Length", n), req: withLen(int64(n), plain(b)), want: b},
			tc{name: fmt.Sprintf("%d bytes, chunked", n), req: withLen(-1, plain(b)), want: b},
			tc{name: fmt.Sprintf("%d bytes, one byte a read", n), want: b,
				req: withLen(-1, func() io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) })},
			tc{name: fmt.Sprintf("%d bytes, EOF with the data", n), want: b,
				req: withLen(int64(n), func() io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) })},
		)
	}
	over := body(limit + 1)
	cases = append(cases,
		tc{name: "no body", req: func() *http.Request { r := httptest.NewRequest("GET", "/", nil); r.Body = nil; return r }},
		tc{name: "http.NoBody", req: func() *http.Request { return httptest.NewRequest("GET", "/", nil) }},
		tc{name: "Content-Length understates", req: withLen(10, plain(body(5000))), want: body(5000)},
		tc{name: "Content-Length overstates", req: withLen(5000, plain(body(10))), want: body(10)},
		tc{name: "one byte over the limit", req: withLen(int64(len(over)), plain(over)), status: 413},
		tc{name: "one byte over the limit, chunked", req: withLen(-1, plain(over)), status: 413},
		tc{name: "over the limit, Content-Length understates", req: withLen(10, plain(over)), status: 413},
		tc{name: "a limit in front", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(body(100)))
			r.Body = http.MaxBytesReader(nil, r.Body, 50)
			return r
		}, status: 413},
		tc{name: "read error", req: withLen(-1, func() io.Reader {
			return io.MultiReader(bytes.NewReader(body(5000)), iotest.ErrReader(io.ErrUnexpectedEOF))
		})},
	)
	for _, pool := range []*Buffers{{}, nil} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("pool %v/%s", pool != nil, c.name), func(t *testing.T) {
				bp, err := ReadBody(c.req(), limit, pool)
				switch {
				case c.want == nil && c.status == 0 && strings.HasPrefix(c.name, "read error"):
					if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "reading the request body") {
						t.Fatalf("err = %v, want a wrapped read error", err)
					}
				case c.status != 0:
					var e *apierror.Error
					if !errors.As(err, &e) || e.Code != c.status || e.Detail != fmt.Sprintf("request body exceeds the limit of %d bytes", limit) {
						t.Fatalf("err = %v, want %d", err, c.status)
					}
				case err != nil:
					t.Fatal(err)
				case c.want == nil && bp != nil:
					t.Fatalf("body %q for a request without one", *bp)
				case c.want != nil && (bp == nil || !bytes.Equal(*bp, c.want)):
					t.Fatalf("body differs (%d bytes read, %d sent)", len(deref(bp)), len(c.want))
				}
				if bp != nil {
					pool.Put(bp)
				}
			})
		}
	}
}

func deref(b *[]byte) []byte {
	if b == nil {
		return nil
	}
	return *b
}

// FuzzReadBody: whatever the body, its declared length and how the reader splits it, ReadBody
// returns what io.ReadAll behind http.MaxBytesReader returned before it, or the same 413.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(`{"id":1}`), int64(8), uint16(100), uint8(0))
	f.Add(bytes.Repeat([]byte("x"), 5000), int64(-1), uint16(4096), uint8(3))
	f.Add(bytes.Repeat([]byte("y"), 300), int64(10), uint16(299), uint8(7))
	f.Fuzz(func(t *testing.T, body []byte, declared int64, limit uint16, chunk uint8) {
		var src io.Reader = bytes.NewReader(body)
		if chunk > 0 {
			src = &chunkReader{r: src, n: int(chunk)}
		}
		req := httptest.NewRequest("POST", "/", nil)
		req.Body, req.ContentLength = chunked{src}, max(declared, -1)

		wantBody, wantErr := io.ReadAll(http.MaxBytesReader(nil, chunked{bytes.NewReader(body)}, int64(limit)))
		pool := &Buffers{}
		bp, err := ReadBody(req, int64(limit), pool)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("err = %v, io.ReadAll said %v", err, wantErr)
		}
		if err != nil {
			var e *apierror.Error
			if !errors.As(err, &e) || e.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("err = %v, want 413", err)
			}
			return
		}
		if !bytes.Equal(deref(bp), wantBody) {
			t.Fatalf("body %q, want %q", deref(bp), wantBody)
		}
		pool.Put(bp)
	})
}

// chunkReader returns at most n bytes a Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// echoOrders serves order.OrderSrv/GetOrder with a product whose size follows from the id (up
// to ~48 KiB, so answers span several HTTP/2 frames). It is a stream handler so that it can
// also stall: a call with metadata "x-stall" is never read, and waits until it ends.
var echoOrders = grpc.ServiceDesc{
	ServiceName: "order.OrderSrv",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "GetOrder", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			if md, _ := metadata.FromIncomingContext(stream.Context()); len(md.Get("x-stall")) > 0 {
				<-stream.Context().Done()
				return stream.Context().Err()
			}
			req := &order.OrderRequest{}
			if err := stream.RecvMsg(req); err != nil {
				return err
			}
			return stream.SendMsg(&order.OrderResponse{Id: req.Id, Product: productFor(req.Id)})
		}}},
}

func productFor(id int64) string { return strings.Repeat(fmt.Sprintf("%d;", id), int(id*37%6000)) }

func startEchoOrders(t *testing.T, opts ...grpc.ServerOption) *grpc.ClientConn {
	return serveGRPC(t, func(s *grpc.Server) { s.RegisterService(&echoOrders, nil) }, opts...)
}

// orderProto is the protobuf request for id, padded with an unknown field of pad bytes: the
// gateway forwards it untouched, so large ones exercise the pooled body sent as it is.
func orderProto(id int64, pad int) []byte {
	b, _ := proto.Marshal(&order.OrderRequest{Id: id})
	if pad > 0 {
		b = protowire.AppendTag(b, 99, protowire.BytesType)
		b = protowire.AppendBytes(b, bytes.Repeat([]byte{byte(id)}, pad))
	}
	return b
}

// TestHandlerConcurrentCallsKeepTheirBytes runs many calls at once through every path that
// uses pooled buffers (fast JSON, a JSON body too large for one class, protobuf in and out,
// a large protobuf body sent as it is, a chunked body, JSON in and protobuf out): each answer
// must be its own request's, complete with its Content-Length, and the race detector watches
// the buffers change hands.
func TestHandlerConcurrentCallsKeepTheirBytes(t *testing.T) {
	clients(t, testHandlerConcurrentCallsKeepTheirBytes)
}

func testHandlerConcurrentCallsKeepTheirBytes(t *testing.T, raw bool) {
	cc := startEchoOrders(t)
	h := newTestHandlerWith(t, cc, Config{}, raw)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"})))
	}))
	defer ts.Close()

	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := int64(1 + w*perWorker + i)
				if err := oneCall(ts.URL, id, (w+i)%6); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func oneCall(url string, id int64, kind int) error {
	var body io.Reader
	ct, accept := "application/json", ""
	switch kind {
	case 0:
		body = strings.NewReader(fmt.Sprintf(`{"id":%d}`, id))
	case 1: // padded past the first classes: the body buffer grows
		body = strings.NewReader(fmt.Sprintf(`{"id":%d%s}`, id, strings.Repeat(" ", int(id*131%70000))))
	case 2:
		body, ct, accept = bytes.NewReader(orderProto(id, 0)), "application/protobuf", "application/protobuf"
	case 3: // larger than the HTTP/2 window: grpc still writes it after the first frames
		body, ct = bytes.NewReader(orderProto(id, 80<<10+int(id))), "application/protobuf"
	case 4:
		body = chunked{strings.NewReader(fmt.Sprintf(`{"id":%d}`, id))}
	case 5: // the fast path, answering in protobuf
		body, accept = strings.NewReader(fmt.Sprintf(`{"id":%d}`, id)), "application/protobuf"
	}
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("Content-Type", ct)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("id %d kind %d: status %d: %s", id, kind, resp.StatusCode, b)
	}
	if resp.ContentLength != int64(len(b)) || len(resp.TransferEncoding) > 0 {
		return fmt.Errorf("id %d kind %d: Content-Length %d, Transfer-Encoding %q for %d bytes", id, kind, resp.ContentLength, resp.TransferEncoding, len(b))
	}
	got := &order.OrderResponse{}
	if accept != "" {
		if err := proto.Unmarshal(b, got); err != nil {
			return fmt.Errorf("id %d: %v", id, err)
		}
	} else {
		var js struct {
			ID      string `json:"id"`
			Product string `json:"product"`
		}
		if err := json.Unmarshal(b, &js); err != nil {
			return fmt.Errorf("id %d: %v: %.100s", id, err, b)
		}
		got.Product = js.Product
		_, _ = fmt.Sscan(js.ID, &got.Id)
	}
	if got.Id != id || got.Product != productFor(id) {
		return fmt.Errorf("kind %d: answer for id %d has id %d and a product of %d bytes, want %d", kind, id, got.Id, len(got.Product), len(productFor(id)))
	}
	return nil
}

// TestHandlerCancelledCallWithLargeBody: a client that goes away while most of its large
// protobuf body is still queued in grpc (the backend never reads it, and the window is 64 KiB)
// gets its call cancelled; grpc drops the queued bytes on its own time, and the calls after it,
// which reuse the pooled buffers, are unharmed.
func TestHandlerCancelledCallWithLargeBody(t *testing.T) {
	cc := startEchoOrders(t, grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10))
	h := newTestHandler(t, cc, Config{})
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequestWithContext(ctx, "POST", "/x", bytes.NewReader(orderProto(int64(i+1), 300<<10)))
		r.Header.Set("Content-Type", "application/protobuf")
		r.Header.Set("Grpc-Metadata-X-Stall", "1")
		r = r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"}))
		done := make(chan struct{})
		w := httptest.NewRecorder()
		go func() { defer close(done); h.ServeHTTP(w, r) }()
		time.Sleep(20 * time.Millisecond) // let the first frames go out; the rest wait for a window
		cancel()
		<-done
		if w.Code != 499 && w.Code != 504 {
			t.Fatalf("status %d after the client left: %s", w.Code, w.Body)
		}
		// Calls that reuse the buffers right away still get their own answers.
		for k := range 4 {
			id := int64(10*i + k + 1)
			r := httptest.NewRequest("POST", "/x", bytes.NewReader(orderProto(id, 100<<10)))
			r.Header.Set("Content-Type", "application/protobuf")
			r.Header.Set("Accept", "application/protobuf")
			r = r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := &order.OrderResponse{}
			if err := proto.Unmarshal(w.Body.Bytes(), got); w.Code != 200 || err != nil || got.Id != id || got.Product != productFor(id) {
				t.Fatalf("call %d after a cancelled one: status %d, err %v, id %d", id, w.Code, err, got.Id)
			}
		}
	}
}

func TestHandlerChunkedBodyOverLimit(t *testing.T) {
	cc := startEchoOrders(t)
	h := newTestHandler(t, cc, Config{BodyLimit: 1000})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"})))
	}))
	defer ts.Close()
	for _, n := range []int{990, 1001} {
		body := `{"id":7` + strings.Repeat(" ", n-len(`{"id":7}`)) + `}`
		resp, err := http.Post(ts.URL, "application/json", chunked{strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 200
		if n > 1000 {
			want = 413
		}
		if resp.StatusCode != want || len(resp.TransferEncoding) > 0 {
			t.Errorf("%d bytes chunked: status %d (want %d), Transfer-Encoding %q: %s", n, resp.StatusCode, want, resp.TransferEncoding, b)
		}
		if want == 413 && !strings.Contains(string(b), "request body exceeds the limit of 1000 bytes") {
			t.Errorf("413 body %s", b)
		}
	}
}
