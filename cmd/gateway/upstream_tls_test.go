package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"

	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
)

// The upstream TLS tests put the gateway in front of backends that serve only TLS (a gRPC
// server, and an HTTPS server that also upgrades to WebSocket), some requiring a client
// certificate, and check that the gateway reaches them when told to (node metadata tls=true,
// or upstream.tls.enabled), verifies them against upstream.tls.ca_file, presents
// upstream.tls.cert_file when asked, and answers 502 when it cannot trust a backend.

// tlsEcho is a gRPC Echo node served over TLS, with reflection. Unary reports in its metadata
// the common name of the client certificate the gateway presented ("" for none).
type tlsEcho struct {
	testsvcv1.UnimplementedEchoServer
	addr  string
	calls atomic.Int64
}

func (e *tlsEcho) Unary(ctx context.Context, req *testsvcv1.EchoRequest) (*testsvcv1.EchoResponse, error) {
	e.calls.Add(1)
	return &testsvcv1.EchoResponse{Request: req, Node: "tls", Metadata: map[string]string{"client-cn": peerCN(ctx)}}, nil
}

func peerCN(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	return info.State.PeerCertificates[0].Subject.CommonName
}

func startTLSEcho(t *testing.T, cfg *tls.Config) *tlsEcho {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &tlsEcho{addr: lis.Addr().String()}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	testsvcv1.RegisterEchoServer(s, e)
	reflection.Register(s)
	serveGRPC(t, s, lis)
	return e
}

// tlsWeb is an HTTPS backend: plain requests are answered "https <client CN>", WebSocket
// upgrades get a first message "cn=<client CN>" and then have every message echoed.
type tlsWeb struct {
	addr     string
	requests atomic.Int64
	sessions atomic.Int64
}

func clientCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

func startTLSWeb(t *testing.T, cfg *tls.Config) *tlsWeb {
	t.Helper()
	w := &tlsWeb{}
	up := websocket.Upgrader{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			w.requests.Add(1)
			if r.TLS == nil {
				http.Error(rw, "not over TLS", http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(rw, "https "+clientCN(r))
			return
		}
		conn, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		w.sessions.Add(1)
		if err := conn.WriteMessage(websocket.TextMessage, []byte("cn="+clientCN(r))); err != nil {
			return
		}
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are what some tests want
	srv.TLS = cfg.Clone()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.addr = srv.Listener.Addr().String()
	return w
}

// writeClientCert writes the PKI's client certificate and key as PEM files for
// upstream.tls.cert_file and key_file.
func writeClientCert(t *testing.T, pki *hardPKI) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(pki.client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: pki.client.Certificate[0]},
		keyFile:  {Type: "PRIVATE KEY", Bytes: der},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// tlsGatewayYAML is a gateway whose static registry lists tls.grpc and tls.web, one node each,
// with metadata tls=true when meta, routes /grpc (rpc), /h/* (http) and /ws/* (web) to them,
// and extra (more top-level YAML: upstream:, rpc:, or "").
func tlsGatewayYAML(grpcAddr, webAddr string, meta bool, extra string) string {
	md := ""
	if meta {
		md = `, metadata: {tls: "true"}`
	}
	return fmt.Sprintf(`server:
  address: 127.0.0.1:0
  shutdown_timeout: 10s
registry:
  type: static
  static:
    - name: tls.grpc
      nodes:
        - {id: node0, address: %q%s}
    - name: tls.web
      nodes:
        - {id: node0, address: %q%s}
routes:
  - path: /grpc
    service: tls.grpc
    endpoint: Echo.Unary
  - path: /h/*
    handler: http
    service: tls.web
    strip_prefix: /h
  - path: /ws/*
    handler: web
    service: tls.web
    strip_prefix: /ws
%s`, grpcAddr, md, webAddr, md, extra)
}

// TestUpstreamTLS: for each way of configuring TLS to backends, a gRPC call, a proxied HTTPS
// request and a proxied wss session either reach the TLS backends (which see the gateway's
// client certificate when it has one) or fail with 502 without the backend's handlers ever
// running, and the gateway stays up.
func TestUpstreamTLS(t *testing.T) {
	t.Parallel()
	pki := newHardPKI(t)
	serverCert, err := tls.LoadX509KeyPair(pki.certFile, pki.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverCert}}
	mutualTLS := serverTLS.Clone()
	mutualTLS.ClientAuth, mutualTLS.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
	certFile, keyFile := writeClientCert(t, pki)

	type backends struct {
		grpc *tlsEcho
		web  *tlsWeb
	}
	oneWay := backends{startTLSEcho(t, serverTLS), startTLSWeb(t, serverTLS)}
	mutual := backends{startTLSEcho(t, mutualTLS), startTLSWeb(t, mutualTLS)}

	ca := fmt.Sprintf("upstream:\n  tls:\n    ca_file: %q\n", pki.caFile)
	clientCert := fmt.Sprintf("    cert_file: %q\n    key_file: %q\n", certFile, keyFile)
	// Descriptors from a protoset: the gateway's first contact with the gRPC node is the call
	// itself, not server reflection.
	protoset := "rpc:\n  services:\n" + protosetDescriptors(t, "tls.grpc")
	const (
		untrusted = "certificate signed by unknown authority"
		noCert    = "certificate required" // the backend's TLS 1.3 alert
	)
	for _, tc := range []struct {
		name     string
		backends backends
		meta     bool   // node metadata tls=true
		extra    string // upstream: (and rpc:) blocks
		fail     string // "": the exchanges succeed; else what the http and web errors say
		cn       string // the client certificate the backends see
	}{
		{"node metadata tls=true, CA", oneWay, true, ca, "", ""},
		{"upstream.tls.enabled, CA", oneWay, false, ca + "    enabled: true\n", "", ""},
		{"upstream.tls.enabled, CA, protoset", oneWay, false, ca + "    enabled: true\n" + protoset, "", ""},
		{"node metadata tls=true, no CA: not trusted", oneWay, true, "", untrusted, ""},
		{"upstream.tls.enabled, no CA: not trusted", oneWay, false, "upstream:\n  tls:\n    enabled: true\n", untrusted, ""},
		{"no CA: not trusted, protoset", oneWay, true, protoset, untrusted, ""},
		{"client certificate required and configured", mutual, true, ca + clientCert, "", "client"},
		{"client certificate required and configured, protoset", mutual, true, ca + clientCert + protoset, "", "client"},
		{"client certificate required, none configured", mutual, true, ca, noCert, ""},
		{"client certificate required, none configured, protoset", mutual, true, ca + protoset, noCert, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.backends
			g := startGateway(t, tlsGatewayYAML(b.grpc.addr, b.web.addr, tc.meta, tc.extra))
			calls, requests, sessions := b.grpc.calls.Load(), b.web.requests.Load(), b.web.sessions.Load()

			t.Run("grpc", func(t *testing.T) {
				r := g.post(t, "/grpc", `{"name":"over tls"}`)
				if tc.fail != "" {
					t.Logf("answer: %s", r)
					wantError(t, r, http.StatusBadGateway, "tls.grpc")
					if n := b.grpc.calls.Load() - calls; n != 0 {
						t.Errorf("the backend served %d calls", n)
					}
					return
				}
				got := wantOK(t, r)
				if field(got, "request", "name") != "over tls" || field(got, "metadata", "client-cn") != tc.cn {
					t.Errorf("answer %v, want the request echoed and client CN %q", got, tc.cn)
				}
			})

			t.Run("http", func(t *testing.T) {
				r := g.call(t, http.MethodGet, "/h/hello", "")
				if tc.fail != "" {
					wantError(t, r, http.StatusBadGateway, "tls.web", tc.fail)
					if n := b.web.requests.Load() - requests; n != 0 {
						t.Errorf("the backend served %d requests", n)
					}
					return
				}
				if r.code != http.StatusOK || string(r.body) != "https "+tc.cn {
					t.Errorf("got %s, want 200 %q", r, "https "+tc.cn)
				}
			})

			t.Run("web", func(t *testing.T) {
				dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
				url := "ws" + strings.TrimPrefix(g.url, "http") + "/ws/echo"
				conn, res, err := dialer.Dial(url, nil)
				if tc.fail != "" {
					if err == nil {
						_ = conn.Close()
						t.Fatal("the WebSocket session opened")
					}
					if res == nil {
						t.Fatalf("dial: %v without an answer", err)
					}
					body, _ := io.ReadAll(res.Body)
					var m map[string]any
					if res.StatusCode != http.StatusBadGateway || json.Unmarshal(body, &m) != nil || m["id"] != "tls.web" ||
						!strings.Contains(fmt.Sprint(m["detail"]), tc.fail) {
						t.Errorf("handshake answered %d %s, want a 502 error body saying %q", res.StatusCode, body, tc.fail)
					}
					if n := b.web.sessions.Load() - sessions; n != 0 {
						t.Errorf("the backend opened %d sessions", n)
					}
					return
				}
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "cn="+tc.cn {
					t.Fatalf("first message %q (%v), want %q", msg, err, "cn="+tc.cn)
				}
				if err := conn.WriteMessage(websocket.TextMessage, []byte("ping over wss")); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "ping over wss" {
					t.Fatalf("echo %q (%v)", msg, err)
				}
			})

			// A backend the gateway cannot reach never takes the gateway down.
			if r := g.call(t, http.MethodGet, "/health/live", ""); r.code != http.StatusOK {
				t.Errorf("liveness after the exchanges: %s", r)
			}
		})
	}
}
