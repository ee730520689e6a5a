package openapi

import (
	"strings"
	"testing"
)

func TestTemplatePath(t *testing.T) {
	tests := []struct{ pattern, handler, want, params string }{
		{"/orders/{id}", "rpc", "/orders/{id}", "id"},
		{"/orders/{id:[0-9]{1,3}}/items", "rpc", "/orders/{id}/items", "id=[0-9]{1,3}"},
		{"/hello/*", "http", "/hello/{path}", "path..."},
		{"/events/*", "event", "/events/{topic}/{name}", "topic name..."},
		{"/t/{topic}/*", "event", "/t/{topic}/{path}", "topic path..."},
		{"/plain", "web", "/plain", ""},
	}
	for _, tt := range tests {
		got, params := templatePath(tt.pattern, tt.handler)
		var ps []string
		for _, p := range params {
			s := p.name
			if p.pattern != "" {
				s += "=" + p.pattern
			}
			if p.rest {
				s += "..."
			}
			ps = append(ps, s)
		}
		if got != tt.want || strings.Join(ps, " ") != tt.params {
			t.Errorf("templatePath(%q) = %q %v, want %q %s", tt.pattern, got, ps, tt.want, tt.params)
		}
	}
	if shape("/a/{id}/b/{x}") != shape("/a/{name}/b/{y}") || shape("/a/{id}") == shape("/a/b") {
		t.Error("shape does not ignore variable names only")
	}
}

// Registry route paths come from services: whatever they hold, templating neither panics nor
// leaves a brace unbalanced.
func FuzzTemplatePath(f *testing.F) {
	for _, s := range []string{"/orders/{id}", "/x/{a:[0-9]{2}}/*", "{", "}", "/{{}}*", "/a/{b", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		tmpl, params := templatePath(pattern, "event")
		if strings.Count(tmpl, "{") < len(params) {
			t.Errorf("%q -> %q with %d params", pattern, tmpl, len(params))
		}
		_ = shape(tmpl)
		sh := newShadow([]Route{{Path: pattern}})
		_ = sh.takes("GET", "/x")
	})
}
