package h2grpc

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var (
	goAway0  = []byte{0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // GOAWAY, last stream 0
	refused1 = []byte{0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 7}             // RST_STREAM 1 REFUSED_STREAM
)

// serverBytes is what a server could send for stream 1: its SETTINGS, then each block given
// (name, value pairs; the last one ends the stream), with data between headers and trailers.
func serverBytes(headers [][]string, data []byte, settings ...http2.Setting) []byte {
	var buf, hb bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	enc := hpack.NewEncoder(&hb)
	_ = fr.WriteSettings(settings...)
	_ = fr.WriteSettingsAck()
	for i, kv := range headers {
		hb.Reset()
		for j := 0; j+1 < len(kv); j += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[j], Value: kv[j+1]})
		}
		end := i == len(headers)-1
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: end})
		if i == 0 && data != nil {
			_ = fr.WriteData(1, false, data)
		}
	}
	return buf.Bytes()
}

// answerWithoutTrailers is a server's SETTINGS, headers and message, and nothing more.
func answerWithoutTrailers(headers []string, msg []byte) []byte {
	var buf, hb bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	enc := hpack.NewEncoder(&hb)
	_ = fr.WriteSettings()
	for j := 0; j+1 < len(headers); j += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: headers[j], Value: headers[j+1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	_ = fr.WriteData(1, false, msg)
	return buf.Bytes()
}

// FuzzServerFrames feeds arbitrary bytes to the client as the server's side of the connection:
// the call must end with an answer or an error, promptly, without panicking.
func FuzzServerFrames(f *testing.F) {
	ok := []string{":status", "200", "content-type", "application/grpc"}
	msg := []byte{0, 0, 0, 0, 3, 'a', 'b', 'c'}
	f.Add(serverBytes([][]string{ok, {"grpc-status", "0"}}, msg))
	f.Add(serverBytes([][]string{ok, {"grpc-status", "0", "x-bin", "AAE"}}, msg, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20}))
	f.Add(serverBytes([][]string{append(ok, "grpc-status", "5", "grpc-message", "n%C3%A4")}, nil))
	f.Add(serverBytes([][]string{ok, {"grpc-status", "0"}}, []byte{1, 0, 0, 0, 1, 'x'}))
	f.Add(serverBytes([][]string{ok, {"grpc-status", "0"}}, []byte{0, 0xff, 0xff, 0xff, 0xff}))
	f.Add(serverBytes([][]string{{":status", "404"}}, nil, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
	f.Add(serverBytes([][]string{ok, {"grpc-status", "3", "grpc-status-details-bin", "CAMSAXg"}}, msg))
	f.Add(append(serverBytes(nil, nil), goAway0...))
	f.Add(append(serverBytes(nil, nil), refused1...))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}) // SETTINGS, then silence
	f.Add(answerWithoutTrailers(ok, msg))
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(server, preface); err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, server) }() // net.Pipe writes wait for a reader
			_, _ = server.Write(in)
		}()
		c := New("fuzz:1", Config{
			MaxMessageBytes: 1 << 16, MaxHeaderListBytes: 1 << 12,
			Dial: func(context.Context, string, string) (net.Conn, error) { return client, nil },
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		call := &Call{Method: "/s/M", Request: bytes.Repeat([]byte{'r'}, 100<<10), Metadata: []Field{{"k", "v"}}}
		err := c.Invoke(ctx, call)
		if err == nil && call.Response == nil {
			t.Fatal("success without an answer")
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the call took %v", time.Since(start))
		}
		c.Close()
	})
}

// TestScriptedServer checks the fuzz seeds' outcomes, so the fuzz target starts from inputs
// that reach deep into the client.
func TestScriptedServer(t *testing.T) {
	ok := []string{":status", "200", "content-type", "application/grpc"}
	msg := []byte{0, 0, 0, 0, 3, 'a', 'b', 'c'}
	for _, tc := range []struct {
		name string
		in   []byte
		want string // the status code, or the answer
	}{
		{"answer", serverBytes([][]string{ok, {"grpc-status", "0"}}, msg), "abc"},
		{"trailers-only", serverBytes([][]string{append(ok, "grpc-status", "5", "grpc-message", "n%C3%A4")}, nil), "NotFound"},
		{"compressed", serverBytes([][]string{ok, {"grpc-status", "0"}}, []byte{1, 0, 0, 0, 1, 'x'}), "Internal"},
		{"too long", serverBytes([][]string{ok, {"grpc-status", "0"}}, []byte{0, 0xff, 0xff, 0xff, 0xff}), "ResourceExhausted"},
		{"not grpc", serverBytes([][]string{{":status", "404"}}, nil), "Unimplemented"},
		{"connection lost", answerWithoutTrailers(ok, msg), "Unavailable"},
		{"goaway", append(serverBytes(nil, nil), goAway0...), "Unavailable unsent"},
		{"refused", append(serverBytes(nil, nil), refused1...), "Unavailable unsent"},
		{"push", append(serverBytes(nil, nil), 0, 0, 4, 5, 4, 0, 0, 0, 1, 0, 0, 0, 2), "Internal"},
		{"no settings", []byte{0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 7}, "Unavailable unsent"},
		{"not http2", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "Unavailable unsent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				preface := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(server, preface); err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, server) }()
				_, _ = server.Write(tc.in)
				time.Sleep(50 * time.Millisecond) // the answer is read before the connection ends
			}()
			c := New("script:1", Config{Dial: func(context.Context, string, string) (net.Conn, error) { return client, nil }})
			defer c.Close()
			call := &Call{Method: "/s/M", Request: []byte("q")}
			err := c.Invoke(ctxTimeout(t, 5*time.Second), call)
			got := ""
			if err != nil {
				got = statusCode(err)
				if NeverSent(err) {
					got += " unsent"
				}
			} else {
				got = string(*call.Response)
			}
			if got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}
