package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// DefaultAPIKeyHeader is the header an API key is read from unless configured otherwise.
const DefaultAPIKeyHeader = "X-API-Key"

// maxAPIKeyBytes bounds the keys the gateway will hash.
const maxAPIKeyBytes = 4 << 10

// APIKeyConfig configures API keys.
type APIKeyConfig struct {
	// Header carries the key; default X-API-Key. "Authorization: ApiKey <key>" is read too.
	Header string
	// Keys are the accepted keys, by hash. At least one.
	Keys []APIKey
}

// APIKey is one accepted key: never the key itself, only its SHA-256.
type APIKey struct {
	// Name identifies the key's holder; it is forwarded as Grpc-Metadata-X-Api-Key-Name.
	// Unique, printable ASCII without spaces.
	Name string
	// SHA256 is the hex SHA-256 of the key (HashKey, or: echo -n key | sha256sum).
	SHA256 string
}

// HashKey returns the hex SHA-256 of key, the form APIKey.SHA256 takes.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// apiKeys checks presented keys against the configured hashes.
type apiKeys struct {
	header string // canonical
	names  []string
	hashes [][]byte
	// compare is subtle.ConstantTimeCompare; tests wrap it to see that every hash is compared.
	compare func(a, b []byte) int
}

func newAPIKeys(c APIKeyConfig) (*apiKeys, error) {
	k := &apiKeys{
		header:  textproto.CanonicalMIMEHeaderKey(orDefault(c.Header, DefaultAPIKeyHeader)),
		compare: subtle.ConstantTimeCompare,
	}
	if !validToken(k.header) {
		return nil, fmt.Errorf("api_keys.header %q is not a valid header name", c.Header)
	}
	if strings.EqualFold(k.header, "Authorization") {
		return nil, fmt.Errorf(`api_keys.header: Authorization is always read with the "ApiKey" scheme; name another header`)
	}
	if len(c.Keys) == 0 {
		return nil, fmt.Errorf("api_keys.keys: at least one key is required")
	}
	names := map[string]bool{}
	hashes := map[string]string{}
	for i, key := range c.Keys {
		if !validName(key.Name) {
			return nil, fmt.Errorf("api_keys.keys[%d].name %q: want printable ASCII without spaces", i, key.Name)
		}
		if names[key.Name] {
			return nil, fmt.Errorf("api_keys.keys[%d].name %q is used twice", i, key.Name)
		}
		names[key.Name] = true
		h, err := hex.DecodeString(key.SHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("api_keys.keys[%d] (%s): sha256 must be 64 hex digits (echo -n key | sha256sum)", i, key.Name)
		}
		if other, ok := hashes[string(h)]; ok {
			return nil, fmt.Errorf("api_keys.keys[%d] (%s): same key as %s", i, key.Name, other)
		}
		hashes[string(h)] = key.Name
		k.names = append(k.names, key.Name)
		k.hashes = append(k.hashes, h)
	}
	return k, nil
}

// presented returns the key a request carries, if any, and whether it came from Authorization.
func (k *apiKeys) presented(h http.Header) (key string, fromAuth, ok bool, err error) {
	vs := h.Values(k.header)
	if len(vs) > 1 {
		return "", false, false, apiKeyError(fmt.Errorf("%w: %s given more than once", ErrAmbiguous, k.header))
	}
	if len(vs) == 1 {
		key, ok = strings.Trim(vs[0], " \t"), true
	}
	if v, found := authorization(h, "ApiKey"); found {
		if ok {
			return "", false, false, apiKeyError(fmt.Errorf("%w: API key given both in %s and in Authorization", ErrAmbiguous, k.header))
		}
		key, fromAuth, ok = v, true, true
	}
	return key, fromAuth, ok, nil
}

// match returns the name of the key whose hash equals key's. It compares against every
// configured hash, in constant time each, whatever matched before.
func (k *apiKeys) match(key string) (string, error) {
	if key == "" || len(key) > maxAPIKeyBytes {
		return "", apiKeyError(ErrUnknownAPIKey)
	}
	sum := sha256.Sum256([]byte(key))
	found := 0 // index+1 of the matching hash
	for i, h := range k.hashes {
		eq := k.compare(sum[:], h)
		found = subtle.ConstantTimeSelect(eq, i+1, found)
	}
	if found == 0 {
		return "", apiKeyError(ErrUnknownAPIKey)
	}
	return k.names[found-1], nil
}

// validToken reports whether s is a non-empty RFC 9110 token (header names, key names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validName reports whether s is non-empty printable ASCII without spaces.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
