package api_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/handler/api"
)

// FuzzBuildRequest: any header, query, content type and body give a go.api.Request or a 4xx,
// never a panic; the body always arrives exactly as sent, the gateway's own headers are its own.
func FuzzBuildRequest(f *testing.F) {
	f.Add("X-Custom", "v", "a=1&a=2&b", "application/x-www-form-urlencoded", []byte("x=1&y=%20&z"))
	f.Add("Content-Type", "multipart/form-data; boundary=zz", "", "multipart/form-data; boundary=zz",
		[]byte("--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--\r\n"))
	f.Add("X-Forwarded-For", "1.2.3.4", "%zz=%", "application/json", []byte(`{"a":1}`))
	f.Add("Host", "evil", ";;&&==", "multipart/form-data", []byte("--\r\n"))
	f.Add("", "", "q=\x00", "text/plain; charset=\"", []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, key, value, query, contentType string, body []byte) {
		const limit = 256
		hdr := http.Header{}
		if key != "" {
			hdr[key] = []string{value}
		}
		hdr.Set("Content-Type", contentType)
		r := &http.Request{
			Method:     http.MethodPost,
			URL:        &url.URL{Path: "/p", RawQuery: query},
			Header:     hdr,
			Body:       io.NopCloser(bytes.NewReader(body)),
			Host:       "gw.example.com",
			RemoteAddr: "192.0.2.1:1234",
		}
		req, err := api.BuildRequest(r, "/p", limit, limit)
		if err != nil {
			var e *apierror.Error
			if !errors.As(err, &e) || (e.Code != http.StatusBadRequest && e.Code != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %v is not a 400 or 413", err)
			}
			if e.Code == http.StatusRequestEntityTooLarge && len(body) <= limit {
				t.Fatalf("413 for %d bytes", len(body))
			}
			return
		}
		if len(body) > limit {
			t.Fatalf("%d bytes accepted over the limit of %d", len(body), limit)
		}
		if !bytes.Equal(req.GetBody(), body) {
			t.Fatalf("body %q, want %q", req.GetBody(), body)
		}
		if got := req.GetHeader()["X-Forwarded-For"].GetValues(); !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Fatalf("X-Forwarded-For %q", got)
		}
		if got := req.GetHeader()["Host"].GetValues(); !slices.Equal(got, []string{"gw.example.com"}) {
			t.Fatalf("Host %q", got)
		}
		if req.GetMethod() != http.MethodPost || req.GetPath() != "/p" {
			t.Fatalf("method/path %q %q", req.GetMethod(), req.GetPath())
		}
		for k, p := range req.GetGet() {
			if p.GetKey() != k {
				t.Fatalf("get pair %q has key %q", k, p.GetKey())
			}
		}
		for k, p := range req.GetPost() {
			if p.GetKey() != k {
				t.Fatalf("post pair %q has key %q", k, p.GetKey())
			}
		}
	})
}
