package resolver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const testNS = "go.micro.api"

// req returns a request with the given decoded path, raw path and host, bypassing URL parsing
// so that tests and fuzzers can feed any bytes.
func req(path, raw, host string) *http.Request {
	return &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path, RawPath: raw}, Host: host}
}

// okCase is a request expected to resolve.
type okCase struct {
	name    string
	path    string
	host    string
	service string
	method  string
}

// errCase is a request expected to fail with ErrNoMatch.
type errCase struct {
	name string
	path string
	raw  string
	host string
}

func runOK(t *testing.T, res Resolver, cases []okCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := req(tc.path, "", tc.host)
			ep, err := res.Resolve(r)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.path, err)
			}
			if ep.Service != tc.service || ep.Method != tc.method {
				t.Errorf("Resolve(%q) = %q, %q; want %q, %q", tc.path, ep.Service, ep.Method, tc.service, tc.method)
			}
			if ep.Path != tc.path {
				t.Errorf("Path = %q, want %q", ep.Path, tc.path)
			}
			if ep.Host != tc.host {
				t.Errorf("Host = %q, want %q", ep.Host, tc.host)
			}
		})
	}
}

func runErr(t *testing.T, res Resolver, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep, err := res.Resolve(req(tc.path, tc.raw, tc.host))
			if !errors.Is(err, ErrNoMatch) {
				t.Fatalf("Resolve(%q, raw %q, host %q) = %+v, %v; want ErrNoMatch", tc.path, tc.raw, tc.host, ep, err)
			}
			if ep.Service != "" || ep.Method != "" || ep.Path != "" || ep.Host != "" || ep.Vars != nil {
				t.Errorf("Endpoint on error = %+v, want zero", ep)
			}
		})
	}
}

// checkService fails t unless svc is inside ns: prefixed by "ns." (when ns != ""), with
// non-empty dot-separated labels of [A-Za-z0-9_-] and so no "/" or "..".
func checkService(t *testing.T, ns, svc string) {
	t.Helper()
	if ns != "" {
		if !strings.HasPrefix(svc, ns+".") || len(svc) == len(ns)+1 {
			t.Fatalf("service %q escapes namespace %q", svc, ns)
		}
	}
	if strings.Contains(svc, "/") || strings.Contains(svc, "..") {
		t.Fatalf("service %q contains / or ..", svc)
	}
	for label := range strings.SplitSeq(svc, ".") {
		if !validName(label) {
			t.Fatalf("service %q has invalid label %q", svc, label)
		}
	}
}
