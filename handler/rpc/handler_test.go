package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/selector"
)

const orderService = "go.micro.api.orderservice"

// orderSrv is a trivial order service that remembers the metadata and deadline of its last call.
type orderSrv struct {
	order.UnimplementedOrderSrvServer
	mu       sync.Mutex
	md       metadata.MD
	deadline time.Duration
}

func (s *orderSrv) GetOrder(ctx context.Context, r *order.OrderRequest) (*order.OrderResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.md = md
	s.deadline = 0
	if dl, ok := ctx.Deadline(); ok {
		s.deadline = time.Until(dl)
	}
	s.mu.Unlock()
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-served-by", "test-node", "token-bin", "\x00"))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "done"))
	switch {
	case r.Id <= 0:
		st, _ := status.New(codes.InvalidArgument, "id must be positive").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "id", Description: "must be > 0"}},
		})
		return nil, st.Err()
	case r.Id == 404:
		return nil, status.Error(codes.NotFound, "no order 404")
	}
	return &order.OrderResponse{Id: r.Id, Product: "book", PriceCents: 1299}, nil
}

func (s *orderSrv) last() (metadata.MD, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md, s.deadline
}

// oneNode is a Selector and Pool that always hand out the one test server.
type oneNode struct{ cc *grpc.ClientConn }

func (o oneNode) Select(service string, _ ...string) (selector.Pick, error) {
	if service != orderService {
		return selector.Pick{}, registry.ErrNotFound
	}
	return selector.Pick{Node: registry.Node{ID: "n1", Address: o.cc.Target()}}, nil
}

func (o oneNode) Get(registry.Node) (*grpc.ClientConn, error) { return o.cc, nil }

type staticDescs map[string]*descriptor.Set

func (d staticDescs) Get(_ context.Context, service string) (*descriptor.Set, error) {
	if s, ok := d[service]; ok {
		return s, nil
	}
	return nil, registry.ErrNotFound
}

// startOrderServer serves orderSrv on 127.0.0.1:0 and returns a client connection to it.
func startOrderServer(t *testing.T) (*orderSrv, *grpc.ClientConn) {
	impl := &orderSrv{}
	return impl, serveGRPC(t, func(s *grpc.Server) { order.RegisterOrderSrvServer(s, impl) })
}

// serveGRPC serves what register adds on 127.0.0.1:0 until the test ends and returns a client
// connection to it.
func serveGRPC(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	register(s)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// rawNode is a oneNode whose pool also hands out a raw unary client, so the fast path takes
// h2grpc instead of grpc.
type rawNode struct {
	oneNode
	uc *h2grpc.Client
}

func (r rawNode) Unary(registry.Node) (*h2grpc.Client, error) { return r.uc, nil }

// clients runs test once with each unary client the fast path can use.
func clients(t *testing.T, test func(t *testing.T, raw bool)) {
	t.Run("grpc", func(t *testing.T) { test(t, false) })
	t.Run("h2grpc", func(t *testing.T) { test(t, true) })
}

func newTestHandler(t *testing.T, cc *grpc.ClientConn, cfg Config) *Handler {
	return newTestHandlerWith(t, cc, cfg, false)
}

// newTestHandlerWith is newTestHandler whose fast path uses h2grpc when raw is set.
func newTestHandlerWith(t *testing.T, cc *grpc.ClientConn, cfg Config, raw bool) *Handler {
	t.Helper()
	set, err := descriptor.LoadProtoset("../../examples/proto/order.protoset")
	if err != nil {
		t.Fatal(err)
	}
	var pool Pool = oneNode{cc}
	if raw {
		uc := h2grpc.New(cc.Target(), h2grpc.Config{})
		t.Cleanup(uc.Close)
		pool = rawNode{oneNode{cc}, uc}
	}
	h, err := New(&Caller{Selector: oneNode{cc}, Pool: pool}, staticDescs{orderService: set}, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandlerCalls(t *testing.T) { clients(t, testHandlerCalls) }

func testHandlerCalls(t *testing.T, raw bool) {
	srv, cc := startOrderServer(t)
	h := newTestHandlerWith(t, cc, Config{ForwardHeaders: []string{"X-Tenant"}}, raw)

	type errBody struct {
		ID       string            `json:"id"`
		Code     int               `json:"code"`
		Detail   string            `json:"detail"`
		Status   string            `json:"status"`
		GRPCCode string            `json:"grpc_code"`
		Details  []json.RawMessage `json:"details"`
	}
	cases := []struct {
		name       string
		method     string
		target     string
		endpoint   string
		vars       map[string]string
		header     http.Header
		body       string
		wantCode   int
		wantBody   []string // fragments of the body
		wantHeader http.Header
	}{
		{name: "json body", method: "POST", target: "/orderservice/OrderSrv/GetOrder", endpoint: "OrderSrv.GetOrder",
			header: header("Content-Type", "application/json"), body: `{"id":1}`, wantCode: 200,
			wantBody:   []string{`"id":"1"`, `"product":"book"`, `"priceCents":"1299"`, `"quantity":"0"`},
			wantHeader: header("Content-Type", "application/json", "Grpc-Metadata-X-Served-By", "test-node", "Grpc-Metadata-X-Trailer", "done")},
		{name: "query parameter", method: "GET", target: "/x?id=5", endpoint: "order.OrderSrv.GetOrder", wantCode: 200,
			wantBody: []string{`"id":"5"`}},
		{name: "path variable", method: "GET", target: "/orders/9", endpoint: "OrderSrv.GetOrder", vars: map[string]string{"id": "9"},
			wantCode: 200, wantBody: []string{`"id":"9"`}},
		{name: "form body", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder",
			header: header("Content-Type", "application/x-www-form-urlencoded"), body: "id=11", wantCode: 200, wantBody: []string{`"id":"11"`}},
		{name: "bad field in body", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder", body: `{"id":"x"}`,
			wantCode: 400, wantBody: []string{`"id":"go.micro.api.orderservice"`, `field \"id\"`, `"status":"Bad Request"`}},
		{name: "bad query parameter", method: "GET", target: "/x?id=x", endpoint: "OrderSrv.GetOrder",
			wantCode: 400, wantBody: []string{`field \"id\": invalid int64`}},
		{name: "unsupported content type", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder",
			header: header("Content-Type", "text/xml"), body: "<id/>", wantCode: 415},
		{name: "backend invalid argument with details", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder", body: `{"id":0}`,
			wantCode: 400, wantBody: []string{`"grpc_code":"InvalidArgument"`, `"@type":"type.googleapis.com/google.rpc.BadRequest"`, `"field":"id"`}},
		{name: "backend not found", method: "GET", target: "/x?id=404", endpoint: "OrderSrv.GetOrder",
			wantCode: 404, wantBody: []string{`"grpc_code":"NotFound"`, `"detail":"no order 404"`}},
		{name: "unknown method", method: "GET", target: "/x", endpoint: "OrderSrv.Nope",
			wantCode: 404, wantBody: []string{`OrderSrv.GetOrder, OrderSrv.ListOrders`}},
		{name: "unimplemented method", method: "GET", target: "/x", endpoint: "OrderSrv.ListOrders",
			wantCode: 501, wantBody: []string{`"grpc_code":"Unimplemented"`}},
		{name: "unknown service", method: "GET", target: "/x", endpoint: "Nope.Nope", wantCode: 404},
		{name: "malformed Grpc-Timeout", method: "GET", target: "/x?id=1", endpoint: "OrderSrv.GetOrder",
			header: header("Grpc-Timeout", "soon"), wantCode: 400, wantBody: []string{"Grpc-Timeout"}},
		{name: "invalid protobuf body", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder",
			header: header("Content-Type", "application/protobuf"), body: "\xff\xff", wantCode: 400, wantBody: []string{"invalid protobuf body"}},
		{name: "protobuf body with query parameters", method: "POST", target: "/x?id=1", endpoint: "OrderSrv.GetOrder",
			header: header("Content-Type", "application/protobuf"), body: "\x08\x01", wantCode: 400},
		{name: "body too large", method: "POST", target: "/x", endpoint: "OrderSrv.GetOrder",
			body: `{"id":1` + strings.Repeat(" ", 5<<20) + `}`, wantCode: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			svc := orderService
			if tc.name == "unknown service" {
				svc = "go.micro.api.nope"
			}
			r = r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: svc, Method: tc.endpoint, Vars: tc.vars}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantCode, body)
			}
			for _, frag := range tc.wantBody {
				if !strings.Contains(body, frag) {
					t.Errorf("body %s does not contain %s", body, frag)
				}
			}
			for k, v := range tc.wantHeader {
				if got := w.Header().Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if w.Code >= 400 {
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type = %q", ct)
				}
				var e errBody
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != tc.wantCode || e.ID == "" || e.Detail == "" || e.Status == "" {
					t.Errorf("error body %s (%v) lacks id, code, detail or status", body, err)
				}
			}
		})
	}

	t.Run("metadata and deadline reach the backend", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/x?id=1", nil)
		r.Header = header("Authorization", "Bearer tok", "X-Request-Id", "rid-1", "X-Tenant", "acme",
			"Grpc-Metadata-Trace", "t1", "Cookie", "secret", "Connection", "close", "Grpc-Timeout", "2S")
		r = r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		md, dl := srv.last()
		for k, want := range map[string]string{"authorization": "Bearer tok", "x-request-id": "rid-1", "x-tenant": "acme", "trace": "t1"} {
			if got := md.Get(k); len(got) != 1 || got[0] != want {
				t.Errorf("backend metadata %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"cookie", "connection"} {
			if got := md.Get(k); len(got) != 0 {
				t.Errorf("backend got %s = %q", k, got)
			}
		}
		if dl <= 0 || dl > 2*time.Second {
			t.Errorf("backend deadline in %v, want within 2s", dl)
		}
	})

	t.Run("protobuf in and out", func(t *testing.T) {
		in, _ := proto.Marshal(&order.OrderRequest{Id: 21})
		r := httptest.NewRequest("POST", "/x", bytes.NewReader(in))
		r.Header = header("Content-Type", "application/protobuf", "Accept", "application/protobuf")
		r = r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/protobuf" {
			t.Fatalf("status %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		out := &order.OrderResponse{}
		if err := proto.Unmarshal(w.Body.Bytes(), out); err != nil || out.Id != 21 || out.Product != "book" {
			t.Errorf("answer %v, %v", out, err)
		}
	})

	t.Run("no endpoint in context", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		if w.Code != 500 || !strings.Contains(w.Body.String(), `"id":"gateway"`) {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})

	t.Run("over a real server", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(resolver.WithEndpoint(r.Context(), &resolver.Endpoint{Service: orderService, Method: "OrderSrv.GetOrder"})))
		}))
		defer ts.Close()
		resp, err := http.Post(ts.URL, "application/json", strings.NewReader(`{"id":"nope"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	})
}

func TestNewValidates(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c := &Caller{}
	if _, err := New(nil, staticDescs{}, log, Config{}); err == nil {
		t.Error("New without a caller succeeded")
	}
	if _, err := New(c, staticDescs{}, log, Config{Timeout: time.Minute, MaxTimeout: time.Second}); err == nil {
		t.Error("New with timeout > max timeout succeeded")
	}
	h, err := New(c, staticDescs{}, log, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if h.cfg.Timeout != 15*time.Second || h.cfg.MaxTimeout != 60*time.Second || h.cfg.BodyLimit != 4<<20 {
		t.Errorf("defaults = %+v", h.cfg)
	}
	r := h.Route(2*time.Minute, 30*time.Second, 10).(*Handler)
	if r.cfg.Timeout != 30*time.Second || r.cfg.MaxTimeout != 30*time.Second || r.cfg.BodyLimit != 10 {
		t.Errorf("Route = %+v", r.cfg)
	}
	if h.cfg.MaxTimeout != 60*time.Second {
		t.Error("Route changed the handler it derives from")
	}
}
