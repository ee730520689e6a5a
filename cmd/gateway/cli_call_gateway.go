package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/handler/callmeta"
	"github.com/edgeapi/gateway/resolver"
)

// call --gateway: the request goes to a running gateway over HTTP instead of to the registry.

// microPath is the path the micro resolver in namespace ns maps to service and endpoint:
// go.micro.api.orderservice + OrderSrv.GetOrder -> /orderservice/OrderSrv/GetOrder. A service
// outside the namespace, or a name the resolver cannot produce, is an error saying so.
func microPath(ns, service, endpoint string) (string, error) {
	rel := service
	if ns != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(service, ns+"."); !ok {
			return "", fmt.Errorf("service %q is outside the gateway's namespace %q, so the gateway does not route to it; call it without -gateway", service, ns)
		}
	}
	parts := strings.Split(endpoint, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("endpoint %q: a gateway path names the gRPC service by its short name; use %s.%s",
			endpoint, parts[len(parts)-2], parts[len(parts)-1])
	}
	svc, method := parts[0], parts[1]
	p := "/" + strings.ReplaceAll(rel, ".", "/") + "/" + svc + "/" + method
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: p}}
	ep, err := resolver.Micro{Namespace: ns}.Resolve(r)
	if err != nil || ep.Service != service || ep.Method != endpoint {
		return "", fmt.Errorf("%s %s has no path under the micro resolver (namespace %q); call it without -gateway", service, endpoint, ns)
	}
	return p, nil
}

// callGateway POSTs the request to a running gateway and prints its answer like a direct call.
func (c *cli) callGateway(ctx context.Context, cmd command, cfg config.Config, base string, req callRequest) int {
	if t := cfg.Resolver.Type; t != "micro" {
		return c.usage(cmd, fmt.Errorf("-gateway builds micro resolver paths, but the configuration uses the %s resolver", t))
	}
	path, err := microPath(cfg.Resolver.NamespaceOrDefault(), req.service, req.endpoint)
	if err != nil {
		return c.usage(cmd, err)
	}
	u, err := gatewayURL(base, path)
	if err != nil {
		return c.usage(cmd, err)
	}
	if req.timeoutGiven && req.timeout > 0 {
		// The gateway enforces the deadline (and answers 504); the client waits a little longer
		// for that answer.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.timeout+2*time.Second)
		defer cancel()
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.body))
	if err != nil {
		return c.usage(cmd, err)
	}
	if len(bytes.TrimSpace(req.body)) > 0 {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json, application/x-ndjson")
	if req.timeoutGiven && req.timeout > 0 {
		hr.Header.Set("Timeout", req.timeout.String())
	}
	for k, vs := range req.md {
		for _, v := range vs {
			hr.Header.Add(callmeta.MetadataPrefix+k, v)
		}
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	res, err := client.Do(hr)
	if err != nil {
		e := apierror.New(http.StatusBadGateway, "cannot reach the gateway at %s: %v", base, err)
		e.ID = apierror.GatewayID
		c.writeError(apierror.From(apierror.GatewayID, e))
		return exitFail
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "application/x-ndjson") {
		return c.gatewayStream(res, req.service)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.writeError(apierror.From(req.service, fmt.Errorf("reading the gateway's answer: %w", err)))
		return exitFail
	}
	if res.StatusCode != http.StatusOK {
		c.writeGatewayError(res.StatusCode, body)
		return exitFail
	}
	_ = writeJSON(c.stdout, body, isTerminal(c.stdout))
	return exitOK
}

// gatewayStream prints the results of the gateway's NDJSON stream, one per line; an error line
// ends the command with its body on stderr.
func (c *cli) gatewayStream(res *http.Response, service string) int {
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			c.writeError(apierror.From(service, fmt.Errorf("the gateway sent a stream line that is not JSON: %w", err)))
			return exitFail
		}
		if line.Error != nil {
			_ = writeJSON(c.stderr, line.Error, isTerminal(c.stderr))
			return exitFail
		}
		if err := writeJSON(c.stdout, line.Result, false); err != nil {
			return exitFail
		}
	}
	if err := sc.Err(); err != nil {
		c.writeError(apierror.From(service, fmt.Errorf("the gateway's stream broke off: %w", err)))
		return exitFail
	}
	return exitOK
}

// writeGatewayError passes the gateway's error body on; an answer that is not the gateway's
// JSON (a proxy's page, say) becomes one.
func (c *cli) writeGatewayError(code int, body []byte) {
	var probe map[string]any
	if json.Unmarshal(body, &probe) == nil && probe["code"] != nil {
		_ = writeJSON(c.stderr, body, isTerminal(c.stderr))
		return
	}
	detail := strings.TrimSpace(string(body))
	if len(detail) > 200 {
		detail = detail[:200] + "..."
	}
	if detail == "" {
		detail = "the gateway answered " + http.StatusText(code)
	}
	c.writeError(&apierror.Error{ID: apierror.GatewayID, Code: code, Detail: detail, Status: http.StatusText(code)})
}

// gatewayURL joins the gateway's base URL and a path.
func gatewayURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-gateway %q: want an http:// or https:// URL", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}
