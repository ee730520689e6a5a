package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultRealm names the protection space in challenges.
const DefaultRealm = "gateway"

// Config is one auth policy. At least one of JWT and APIKeys is set.
type Config struct {
	JWT     *JWTConfig
	APIKeys *APIKeyConfig
	// Optional lets requests without credentials through anonymously; credentials that are
	// present are still verified.
	Optional bool
	// Realm is the realm of WWW-Authenticate challenges; default "gateway".
	Realm string
	// Now is the clock for token times and the JWKS cache; nil: time.Now. For tests.
	Now func() time.Time
}

// Authenticator enforces one Config. It is safe for concurrent use; build one per policy and
// share it among the routes using that policy.
type Authenticator struct {
	jwt      *jwtVerifier
	keys     *apiKeys
	optional bool
	realm    string
	log      *slog.Logger
}

// New returns the middleware for cfg. See NewAuthenticator.
func New(cfg Config, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	a, err := NewAuthenticator(cfg, log)
	if err != nil {
		return nil, err
	}
	return a.Middleware, nil
}

// NewAuthenticator validates cfg, loads its static keys (reading key files now) and returns
// the Authenticator. A JWKS is not fetched here: see Prefetch.
func NewAuthenticator(cfg Config, log *slog.Logger) (*Authenticator, error) {
	if log == nil {
		return nil, errors.New("auth: nil logger")
	}
	if cfg.JWT == nil && cfg.APIKeys == nil {
		return nil, errors.New("auth: configure jwt, api_keys or both")
	}
	a := &Authenticator{optional: cfg.Optional, realm: orDefault(cfg.Realm, DefaultRealm), log: log}
	if !validName(a.realm) || strings.ContainsAny(a.realm, `"\`) {
		return nil, fmt.Errorf("auth: realm %q: want printable ASCII without spaces or quotes", cfg.Realm)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var errs []error
	if cfg.JWT != nil {
		v, err := newJWTVerifier(*cfg.JWT, log, now)
		if err != nil {
			errs = append(errs, err)
		}
		a.jwt = v
	}
	if cfg.APIKeys != nil {
		k, err := newAPIKeys(*cfg.APIKeys)
		if err != nil {
			errs = append(errs, err)
		}
		a.keys = k
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}

func newJWTVerifier(c JWTConfig, log *slog.Logger, now func() time.Time) (*jwtVerifier, error) {
	v := &jwtVerifier{
		allowed:  map[string]bool{},
		issuer:   c.Issuer,
		audience: c.Audience,
		leeway:   c.Leeway,
		needExp:  !c.AllowMissingExp,
		now:      now,
	}
	if len(c.Keys) == 0 && c.JWKS == nil {
		return nil, errors.New("jwt: configure keys, jwks or both")
	}
	if c.Leeway < 0 {
		return nil, fmt.Errorf("jwt.leeway %s must not be negative", c.Leeway)
	}
	if slices.Contains(c.Audience, "") {
		return nil, errors.New("jwt.audience: empty value")
	}
	var errs []error
	have := map[string]bool{}
	for i, kc := range c.Keys {
		k, err := loadKey(i, kc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v.static = append(v.static, k)
		have[k.alg] = true
	}
	if c.JWKS != nil {
		j, err := newJWKS(*c.JWKS, log, now)
		if err != nil {
			errs = append(errs, err)
		}
		v.jwks = j
		have[RS256], have[ES256] = true, true
	}
	if len(c.Algorithms) == 0 {
		for alg := range have {
			v.allowed[alg] = true
		}
	}
	for _, alg := range c.Algorithms {
		switch alg {
		case HS256, RS256, ES256:
			if !have[alg] {
				errs = append(errs, fmt.Errorf("jwt.algorithms: %s is allowed but no key can verify it", alg))
			}
			v.allowed[alg] = true
		default:
			if strings.EqualFold(alg, "none") {
				errs = append(errs, errors.New(`jwt.algorithms: "none" would accept unsigned tokens and is never allowed`))
			} else {
				errs = append(errs, fmt.Errorf("jwt.algorithms: %q is not supported (HS256, RS256, ES256)", alg))
			}
		}
	}
	for _, k := range v.static {
		if len(c.Algorithms) > 0 && !v.allowed[k.alg] {
			errs = append(errs, fmt.Errorf("jwt.keys: a %s key is configured but jwt.algorithms does not allow %s", k.alg, k.alg))
			break
		}
	}
	fw, err := newForwardClaims(c.ForwardClaims)
	if err != nil {
		errs = append(errs, err)
	}
	v.forward = fw
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

// Prefetch fetches the JWKS now, so that the first requests do not wait for it; a no-op without
// one. The error says the fetch failed; the Authenticator still works and fetches again later.
func (a *Authenticator) Prefetch(ctx context.Context) error {
	if a.jwt == nil || a.jwt.jwks == nil {
		return nil
	}
	_, err := a.jwt.jwks.keys(ctx, "")
	return err
}

// Middleware authenticates each request before next sees it. See the package doc.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stripReserved(r.Header)
		id, err := a.authenticate(r)
		if err != nil {
			a.log.Debug("request refused", "path", r.URL.Path, "reason", err.Error())
			a.writeError(w, err)
			return
		}
		if id == nil {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		if id.claims != nil {
			ctx = context.WithValue(ctx, claimsKey{}, id.claims)
			for _, f := range a.jwt.forward {
				if v, ok := id.claims[f.claim]; ok {
					r.Header[f.header] = claimValues(v)
					if len(r.Header[f.header]) == 0 {
						delete(r.Header, f.header)
					}
				}
			}
		}
		if id.keyName != "" {
			ctx = context.WithValue(ctx, apiKeyNameKey{}, id.keyName)
			r.Header.Del(a.keys.header)
			if id.keyFromAuth {
				r.Header.Del("Authorization")
			}
			r.Header.Set(APIKeyNameHeader, id.keyName)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// identity is who a request proved to be.
type identity struct {
	claims      Claims
	keyName     string
	keyFromAuth bool
}

// authenticate verifies every credential the request presents. nil, nil: anonymous (Optional).
func (a *Authenticator) authenticate(r *http.Request) (*identity, error) {
	var id identity
	presented := false
	if len(r.Header.Values("Authorization")) > 1 {
		err := fmt.Errorf("%w: Authorization given more than once", ErrAmbiguous)
		if a.jwt == nil {
			return nil, apiKeyError(err)
		}
		return nil, bearerError(err)
	}
	if a.jwt != nil {
		if tok, found := authorization(r.Header, "Bearer"); found {
			presented = true
			claims, err := a.jwt.verify(r.Context(), tok)
			if err != nil {
				return nil, bearerError(err)
			}
			id.claims = claims
		}
	}
	if a.keys != nil {
		key, fromAuth, found, err := a.keys.presented(r.Header)
		if err != nil {
			return nil, err
		}
		if found {
			presented = true
			name, err := a.keys.match(key)
			if err != nil {
				return nil, err
			}
			id.keyName, id.keyFromAuth = name, fromAuth
		}
	}
	if !presented {
		if a.optional {
			return nil, nil
		}
		return nil, ErrNoCredentials
	}
	return &id, nil
}

// authorization returns the credentials of an Authorization header using scheme (compared
// case-insensitively), and whether there is one.
func authorization(h http.Header, scheme string) (string, bool) {
	v := h.Get("Authorization")
	name, cred, ok := strings.Cut(strings.Trim(v, " \t"), " ")
	if !strings.EqualFold(name, scheme) {
		return "", false
	}
	if !ok {
		return "", true // the scheme with no credentials: present, and invalid
	}
	return strings.TrimLeft(cred, " \t"), true
}
