package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/middleware/auth"
	"github.com/edgeapi/gateway/middleware/cors"
	"github.com/edgeapi/gateway/middleware/limit"
	"github.com/edgeapi/gateway/middleware/ratelimit"
	"github.com/edgeapi/gateway/middleware/secure"
	"github.com/edgeapi/gateway/trust"
)

// protection builds the gateway's request protection from config: the edge guards that run
// before routing (path normalisation, smuggling and upgrade checks, CORS) and, per route, auth,
// a per-client rate limit and a concurrency limit. Policies and limiters are built once and
// shared by the routes that name them.
type protection struct {
	edge     []func(http.Handler) http.Handler
	policies map[string]*auth.Authenticator
	cfg      config.Config
	trusted  trust.Proxies
	log      *slog.Logger
}

func newProtection(cfg config.Config, trusted trust.Proxies, log *slog.Logger) (*protection, error) {
	p := &protection{policies: map[string]*auth.Authenticator{}, cfg: cfg, trusted: trusted, log: log}
	sec, err := secure.New(secure.Config{UnderscoresInHeaders: cfg.Server.UnderscoresInHeaders})
	if err != nil {
		return nil, err
	}
	p.edge = append(p.edge, sec, stripIdentity)
	if c := cfg.CORS; len(c.AllowedOrigins) > 0 {
		mw, err := cors.New(cors.Config{
			AllowedOrigins: c.AllowedOrigins, AllowedMethods: c.AllowedMethods, AllowedHeaders: c.AllowedHeaders,
			ExposedHeaders: c.ExposedHeaders, AllowCredentials: c.AllowCredentials, MaxAge: c.MaxAge.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("cors: %w", err)
		}
		p.edge = append(p.edge, mw)
	}
	for name, pol := range cfg.Auth.Policies {
		a, err := auth.NewAuthenticator(authConfig(pol), log)
		if err != nil {
			return nil, fmt.Errorf("auth.policies.%s: %w", name, err)
		}
		p.policies[name] = a
	}
	return p, nil
}

func authConfig(pol config.AuthPolicy) auth.Config {
	c := auth.Config{Optional: pol.Optional}
	if j := pol.JWT; j != nil {
		jc := &auth.JWTConfig{
			Algorithms: j.Algorithms, Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway.D(),
			AllowMissingExp: j.AllowMissingExp, ForwardClaims: j.ForwardClaims,
		}
		for _, k := range j.Keys {
			jc.Keys = append(jc.Keys, auth.Key{ID: k.ID, Algorithm: k.Algorithm, Secret: k.Secret, SecretFile: k.SecretFile, PEM: k.PEM, PEMFile: k.PEMFile})
		}
		if w := j.JWKS; w != nil {
			jc.JWKS = &auth.JWKSConfig{URL: w.URL, TTL: w.TTL.D(), MinRefreshInterval: w.MinRefreshInterval.D(), Timeout: w.Timeout.D(), AllowInsecureHTTP: w.AllowInsecureHTTP}
		}
		c.JWT = jc
	}
	if k := pol.APIKeys; k != nil {
		ac := &auth.APIKeyConfig{Header: k.Header}
		for _, key := range k.Keys {
			ac.Keys = append(ac.Keys, auth.APIKey{Name: key.Name, SHA256: key.SHA256})
		}
		c.APIKeys = ac
	}
	return c
}

// Edge wraps the whole router: guards that must see every request before anything routes it.
func (p *protection) Edge(h http.Handler) http.Handler {
	for i := len(p.edge) - 1; i >= 0; i-- {
		h = p.edge[i](h)
	}
	return h
}

// wrap builds a route's middleware: auth first (an unauthenticated client must not spend the
// route's capacity), then the rate limit per client, then the concurrency limit.
func (p *protection) wrap(policy string, rl config.RateLimit, maxConcurrent int) (func(http.Handler) http.Handler, error) {
	var chain []func(http.Handler) http.Handler
	if policy == "" {
		policy = p.cfg.Auth.Default
	}
	if policy != "" && policy != "none" {
		a, ok := p.policies[policy]
		if !ok {
			return nil, fmt.Errorf("auth policy %q is not defined", policy)
		}
		chain = append(chain, a.Middleware)
	}
	if rl.Rate == 0 {
		rl = p.cfg.Limits.RateLimit
	}
	if rl.Rate > 0 {
		l, err := ratelimit.New(ratelimit.Config{Rate: rl.Rate, Burst: rl.Burst, TrustedProxies: p.trusted, XFFDepth: p.cfg.Limits.XFFDepth})
		if err != nil {
			return nil, err
		}
		chain = append(chain, l.Middleware)
	}
	if maxConcurrent == 0 {
		maxConcurrent = p.cfg.Limits.MaxConcurrent
	}
	if maxConcurrent > 0 {
		l, err := limit.New(limit.Config{Max: maxConcurrent})
		if err != nil {
			return nil, err
		}
		chain = append(chain, l.Middleware)
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return func(h http.Handler) http.Handler {
		for i := len(chain) - 1; i >= 0; i-- {
			h = chain[i](h)
		}
		return h
	}, nil
}

// stripIdentity removes identity headers clients could forge; only the auth middleware sets them.
func stripIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.StripIdentity(r.Header)
		next.ServeHTTP(w, r)
	})
}
