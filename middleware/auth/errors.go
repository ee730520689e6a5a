package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/edgeapi/gateway/apierror"
)

// Reasons a request is refused. Token errors are wrapped with a more precise reason (%w); the
// text is always the gateway's own, never the credential's. Match them with errors.Is.
var (
	ErrNoCredentials   = errors.New("no credentials")
	ErrAmbiguous       = errors.New("more than one credential of the same kind")
	ErrMalformedToken  = errors.New("malformed token")
	ErrAlgorithm       = errors.New("the token's alg is not allowed")
	ErrUnknownKey      = errors.New("no key matches the token's kid")
	ErrKeyMismatch     = errors.New("the token's alg does not match its key")
	ErrSignature       = errors.New("the token's signature is invalid")
	ErrExpired         = errors.New("the token has expired")
	ErrNotYetValid     = errors.New("the token is not valid yet")
	ErrIssuer          = errors.New("the token has the wrong issuer")
	ErrAudience        = errors.New("the token has the wrong audience")
	ErrClaims          = errors.New("malformed claims")
	ErrKeysUnavailable = errors.New("signing keys are unavailable")
	ErrUnknownAPIKey   = errors.New("unknown API key")
)

// scheme says which method a failure belongs to, for the challenge.
type scheme int

const (
	schemeNone scheme = iota
	schemeBearer
	schemeAPIKey
)

// authError is a refusal with the method it concerns.
type authError struct {
	scheme scheme
	err    error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func bearerError(err error) error { return &authError{scheme: schemeBearer, err: err} }
func apiKeyError(err error) error { return &authError{scheme: schemeAPIKey, err: err} }

// writeError is the one place a refusal becomes a status, a challenge and a body.
func (a *Authenticator) writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	var ae *authError
	sch := schemeNone
	if errors.As(err, &ae) {
		sch = ae.scheme
	}
	var e *apierror.Error
	switch {
	case errors.Is(err, ErrNoCredentials):
		e = apierror.New(http.StatusUnauthorized, "authentication required")
		e.Header = http.Header{}
		if a.jwt != nil {
			e.Header.Add("WWW-Authenticate", `Bearer realm="`+a.realm+`"`)
		}
		if a.keys != nil {
			e.Header.Add("WWW-Authenticate", `ApiKey realm="`+a.realm+`"`)
		}
		writeAPIError(w, e)
		return
	case errors.Is(err, ErrAmbiguous):
		e = apierror.New(http.StatusBadRequest, "%s", err.Error())
		e.Header = http.Header{}
		e.Header.Set("WWW-Authenticate", a.challenge(sch, "invalid_request", err.Error()))
	case errors.Is(err, ErrKeysUnavailable):
		e = apierror.New(http.StatusServiceUnavailable, "cannot verify the token: %s", err.Error())
	case sch == schemeAPIKey:
		e = apierror.New(http.StatusUnauthorized, "invalid API key: %s", err.Error())
		e.Header = http.Header{}
		e.Header.Set("WWW-Authenticate", a.challenge(sch, "invalid_key", err.Error()))
	default:
		e = apierror.New(http.StatusUnauthorized, "invalid bearer token: %s", err.Error())
		e.Header = http.Header{}
		e.Header.Set("WWW-Authenticate", a.challenge(schemeBearer, "invalid_token", err.Error()))
	}
	writeAPIError(w, e)
}

func writeAPIError(w http.ResponseWriter, e *apierror.Error) {
	apierror.Write(w, apierror.GatewayID, e)
}

// challenge builds a WWW-Authenticate value (RFC 6750 3).
func (a *Authenticator) challenge(s scheme, code, description string) string {
	name := "Bearer"
	if s == schemeAPIKey {
		name = "ApiKey"
	}
	return name + ` realm="` + a.realm + `", error="` + code + `", error_description="` + quotable(description) + `"`
}

// quotable keeps the bytes RFC 6750 allows in error_description (%x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
