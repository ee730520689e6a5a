package openapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/resolver"
)

// CallPath returns the path at which the gateway's resolver reaches method m of service, and
// whether there is one. It tries the micro form (/<service without namespace, dots as slashes>/
// <Svc>/<Method>, shortest first) and the gRPC form (/<pkg.Svc>/<Method>), and keeps the first
// that res resolves back to the same service and the same method of set, so the path is right
// for whatever resolver and namespace the gateway runs with.
func CallPath(res resolver.Resolver, service string, set *descriptor.Set, m *descriptor.Method) (string, bool) {
	if res == nil || set == nil || m == nil {
		return "", false
	}
	sd := m.Desc.Parent()
	labels := strings.Split(service, ".")
	var candidates []string
	for i := len(labels) - 1; i >= 0; i-- {
		candidates = append(candidates, "/"+strings.Join(labels[i:], "/")+"/"+string(sd.Name())+"/"+string(m.Desc.Name()))
	}
	candidates = append(candidates, "/"+string(sd.FullName())+"/"+string(m.Desc.Name()))
	for _, p := range candidates {
		r, err := http.NewRequest(http.MethodPost, "http://gateway"+p, nil)
		if err != nil {
			continue
		}
		ep, err := res.Resolve(r)
		if err != nil || ep.Service != service {
			continue
		}
		if got, err := set.Method(ep.Method); err == nil && got == m {
			return p, true
		}
	}
	return "", false
}

// Infrastructure reports whether a gRPC service is plumbing every server may carry (health
// checking) rather than part of a backend's API; the OpenAPI documents and the dashboard leave
// such services out. (The descriptor package already drops server reflection.)
func Infrastructure(service protoreflect.FullName) bool {
	return service == "grpc.health.v1.Health"
}

// pathParam is one variable of a route pattern.
type pathParam struct {
	name    string
	pattern string // the chi regexp, if any
	rest    bool   // a trailing wildcard: the rest of the path
}

// templatePath turns a chi pattern into an OpenAPI path template and its variables:
// "{id:[0-9]+}" becomes "{id}" with a pattern, and a trailing "*" becomes "{path}" (for the event
// handler "{topic}/{name}", the form it reads).
func templatePath(pattern, handler string) (string, []pathParam) {
	var b strings.Builder
	var params []pathParam
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '{':
			end, depth := len(pattern), 0
			for j := i; j < len(pattern); j++ {
				if pattern[j] == '{' {
					depth++
				} else if pattern[j] == '}' {
					if depth--; depth == 0 {
						end = j
						break
					}
				}
			}
			inner := pattern[i+1 : min(end, len(pattern))]
			name, re, _ := strings.Cut(inner, ":")
			params = append(params, pathParam{name: name, pattern: re})
			b.WriteString("{" + name + "}")
			i = end
		case c == '*' && i == len(pattern)-1:
			if handler == "event" && len(params) == 0 {
				params = append(params, pathParam{name: "topic"}, pathParam{name: "name", rest: true})
				b.WriteString("{topic}/{name}")
			} else {
				params = append(params, pathParam{name: "path", rest: true})
				b.WriteString("{path}")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), params
}

// shape is a path template without its variable names: OpenAPI forbids two templates of the
// same shape ("/a/{id}" and "/a/{name}").
func shape(tmpl string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; {
		case c == '{':
			skip = true
			b.WriteString("{}")
		case c == '}':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// shadow tells whether a route the router tries before the resolver takes a request.
type shadow struct{ mux *chi.Mux }

func newShadow(routes []Route) shadow {
	mux := chi.NewMux()
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, r := range routes {
		func() {
			defer func() { _ = recover() }() // a pattern chi refuses is no route either
			if r.Method == "" {
				mux.Handle(r.Path, noop)
			} else {
				mux.Method(strings.ToUpper(r.Method), r.Path, noop)
			}
		}()
	}
	return shadow{mux: mux}
}

func (s shadow) takes(method, path string) bool {
	return s.mux.Match(chi.NewRouteContext(), method, path)
}
