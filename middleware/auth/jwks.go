package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// JWKS defaults.
const (
	DefaultJWKSTTL              = 10 * time.Minute
	DefaultJWKSMinRefresh       = 30 * time.Second
	DefaultJWKSTimeout          = 5 * time.Second
	DefaultJWKSMaxBytes   int64 = 1 << 20
)

// HTTPClient fetches the JWKS document; *http.Client implements it.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

var _ HTTPClient = (*http.Client)(nil)

// JWKSConfig configures a JSON Web Key Set fetched over HTTP(S). Zero values mean the defaults.
type JWKSConfig struct {
	// URL of the key set; https, or http on a loopback address or with AllowInsecureHTTP.
	URL string
	// TTL is how long fetched keys are used before a refresh; default 10m.
	TTL time.Duration
	// MinRefreshInterval spaces fetches caused by an unknown kid or a failed fetch; default 30s.
	MinRefreshInterval time.Duration
	// Timeout bounds one fetch; default 5s.
	Timeout time.Duration
	// MaxBytes bounds the response body; default 1 MiB.
	MaxBytes int64
	// AllowInsecureHTTP permits an http URL on a non-loopback host.
	AllowInsecureHTTP bool
	// Client performs the fetch. Nil: an http.Client with Timeout that refuses redirects to
	// plain http.
	Client HTTPClient
}

// jwks is a JWKS cache. Readers load an immutable snapshot; one fetch runs at a time.
type jwks struct {
	url      string
	ttl      time.Duration
	minEvery time.Duration
	timeout  time.Duration
	maxBytes int64
	client   HTTPClient
	log      *slog.Logger
	now      func() time.Time

	state       atomic.Pointer[jwksState]
	lastAttempt atomic.Int64  // unix nanoseconds of the last fetch attempt; 0: none yet
	fetching    chan struct{} // a one-slot semaphore: holding it means fetching
}

// jwksState is one fetched key set.
type jwksState struct {
	keys    []*verifyKey
	fetched time.Time
}

func (s *jwksState) byID(kid string) []*verifyKey {
	if kid == "" {
		return s.keys
	}
	var out []*verifyKey
	for _, k := range s.keys {
		if k.id == kid {
			out = append(out, k)
		}
	}
	return out
}

func newJWKS(c JWKSConfig, log *slog.Logger, now func() time.Time) (*jwks, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("jwt.jwks.url %q: want an absolute http(s) URL", c.URL)
	}
	if u.Scheme == "http" && !c.AllowInsecureHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("jwt.jwks.url %q: keys fetched over plain http can be forged in transit; use https (or set allow_insecure_http)", c.URL)
	}
	if c.TTL < 0 || c.MinRefreshInterval < 0 || c.Timeout < 0 || c.MaxBytes < 0 {
		return nil, errors.New("jwt.jwks: ttl, min_refresh_interval, timeout and max_bytes must not be negative")
	}
	j := &jwks{
		url:      c.URL,
		ttl:      orDefault(c.TTL, DefaultJWKSTTL),
		minEvery: orDefault(c.MinRefreshInterval, DefaultJWKSMinRefresh),
		timeout:  orDefault(c.Timeout, DefaultJWKSTimeout),
		maxBytes: orDefault(c.MaxBytes, DefaultJWKSMaxBytes),
		client:   c.Client,
		log:      log,
		now:      now,
		fetching: make(chan struct{}, 1),
	}
	if j.client == nil {
		allowHTTP := c.AllowInsecureHTTP
		j.client = &http.Client{
			Timeout: j.timeout,
			CheckRedirect: func(r *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				if r.URL.Scheme != "https" && !allowHTTP && !isLoopback(r.URL.Hostname()) {
					return errors.New("redirect to plain http refused")
				}
				return nil
			},
		}
	}
	return j, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keys returns the cached keys with id kid (all keys when kid is empty), fetching first when
// nothing is cached, refreshing when the cache is past its TTL, and when kid is unknown. Fetches
// are spaced by minEvery. The error is ErrKeysUnavailable when no key set was ever fetched, or
// the context's error when ctx ends while waiting for another request's fetch.
func (j *jwks) keys(ctx context.Context, kid string) ([]*verifyKey, error) {
	st := j.state.Load()
	switch {
	case st == nil:
		// Nothing to serve from: wait for a fetch.
		if err := j.lock(ctx); err != nil {
			return nil, err
		}
		st = j.state.Load()
		if st == nil {
			st = j.fetchLocked(ctx)
		}
		j.unlock()
		if st == nil {
			return nil, ErrKeysUnavailable
		}
	case j.now().Sub(st.fetched) >= j.ttl:
		// Stale: one request refreshes, the others go on with the old keys.
		if j.tryLock() {
			if cur := j.state.Load(); j.now().Sub(cur.fetched) >= j.ttl {
				st = j.fetchLocked(ctx)
			} else {
				st = cur
			}
			j.unlock()
		}
	}
	ks := st.byID(kid)
	if len(ks) > 0 || kid == "" {
		return ks, nil
	}
	// Unknown kid: the issuer may have rotated keys. Refresh, if one is due.
	if !j.refreshDue() {
		return nil, nil
	}
	if err := j.lock(ctx); err != nil {
		return nil, err
	}
	defer j.unlock()
	if cur := j.state.Load(); cur != st {
		return cur.byID(kid), nil // another request just fetched
	}
	return j.fetchLocked(ctx).byID(kid), nil
}

func (j *jwks) lock(ctx context.Context) error {
	select {
	case j.fetching <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *jwks) tryLock() bool {
	select {
	case j.fetching <- struct{}{}:
		return true
	default:
		return false
	}
}

func (j *jwks) unlock() { <-j.fetching }

func (j *jwks) refreshDue() bool {
	last := j.lastAttempt.Load()
	return last == 0 || j.now().Sub(time.Unix(0, last)) >= j.minEvery
}

// fetchLocked fetches when one is due and returns the current state, new or old (nil when none
// was ever fetched). The caller holds the semaphore.
func (j *jwks) fetchLocked(ctx context.Context) *jwksState {
	if !j.refreshDue() {
		return j.state.Load()
	}
	j.lastAttempt.Store(j.now().UnixNano())
	// The key set serves other requests too: a client going away does not cancel the fetch.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.timeout)
	defer cancel()
	keys, skipped, err := j.fetch(ctx)
	old := j.state.Load()
	if err != nil {
		stale := "none"
		if old != nil {
			stale = old.fetched.Format(time.RFC3339)
		}
		j.log.Warn("JWKS fetch failed; keeping the keys fetched before", "url", j.url, "error", err, "stale_since", stale)
		return old
	}
	if skipped > 0 {
		j.log.Debug("JWKS keys skipped", "url", j.url, "skipped", skipped, "kept", len(keys))
	}
	st := &jwksState{keys: keys, fetched: j.now()}
	j.state.Store(st)
	return st
}

// jwk is one JSON Web Key (RFC 7517), the fields this package reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// fetch downloads and parses the key set. Keys this package cannot use are counted, not fatal.
func (j *jwks) fetch(ctx context.Context) (keys []*verifyKey, skipped int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, j.maxBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(body)) > j.maxBytes {
		return nil, 0, fmt.Errorf("key set larger than %d bytes", j.maxBytes)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JWK Set document.
func parseJWKS(body []byte) (keys []*verifyKey, skipped int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("key set is not JSON: %w", err)
	}
	if set.Keys == nil {
		return nil, 0, errors.New(`key set has no "keys" array`)
	}
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			skipped++
			continue
		}
		vk, err := k.verifyKey()
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("key set holds no usable RS256 or ES256 key (%d skipped)", skipped)
	}
	return keys, skipped, nil
}

// verifyKey converts a JWK into a key for RS256 or ES256.
func (k *jwk) verifyKey() (*verifyKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("use %q", k.Use)
	}
	var vk *verifyKey
	switch k.Kty {
	case "RSA":
		n, err1 := b64url(k.N)
		e, err2 := b64url(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA parameters")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if err := checkRSA(pub); err != nil {
			return nil, err
		}
		vk = &verifyKey{alg: RS256, rsa: pub}
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q", k.Crv)
		}
		x, err1 := b64url(k.X)
		y, err2 := b64url(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC parameters")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, err
		}
		vk = &verifyKey{alg: ES256, ec: pub}
	default:
		return nil, fmt.Errorf("kty %q", k.Kty) // "oct" included: no shared secrets from a URL
	}
	if k.Alg != "" && k.Alg != vk.alg {
		return nil, fmt.Errorf("alg %q", k.Alg)
	}
	vk.id = k.Kid
	return vk, nil
}

// b64url decodes base64url with or without padding (some issuers pad JWK members).
func b64url(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}
