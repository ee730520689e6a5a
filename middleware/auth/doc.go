// Package auth is the gateway's per-route authentication middleware: JWT bearer tokens (HS256,
// RS256, ES256; static keys or a JWKS URL) and API keys stored hashed. It uses only the standard
// library's crypto.
//
// # Contract
//
// Build one Authenticator per auth policy with NewAuthenticator (or New for just the middleware)
// and share it among the routes that use the policy: it holds the policy's JWKS cache. Config is
// validated once, in NewAuthenticator; a request never meets a configuration error.
//
// For every request, before anything else, the middleware deletes the headers it alone may set,
// whatever the client sent: Grpc-Metadata-X-Jwt-*, Grpc-Metadata-X-Api-Key-Name, and their bare
// forms X-Jwt-* and X-Api-Key-Name (in case a deployment forwards those as extra headers). Then:
//
//   - A request presenting no credential the policy understands is refused with 401 and a
//     challenge per configured method (WWW-Authenticate: Bearer realm="gateway" and/or
//     ApiKey realm="gateway"), unless Config.Optional is set: then it goes on anonymously.
//   - Every credential presented is verified, in Optional mode too; one failing is a refusal
//     even when another is good.
//   - On success the backend receives Grpc-Metadata-X-Jwt-<claim> for each configured claim
//     (which the rpc and api handlers turn into x-jwt-<claim> gRPC metadata) and
//     Grpc-Metadata-X-Api-Key-Name with the key's configured name; the API key itself is removed
//     from the request. The verified claims are in the request context (ClaimsFrom), as is the
//     key's name (APIKeyNameFrom). The Authorization header carrying a JWT is left in place.
//
// Every refusal goes through apierror.Write, so it has the gateway's JSON error body. The detail
// names the reason (expired, bad signature, wrong audience, ...) and never echoes the credential.
//
// # JWT
//
// A token is read from "Authorization: Bearer <token>" (scheme case-insensitive). It must be a
// JWS in compact form (three base64url segments, no padding) at most 16 KiB long, whose header
// alg is in the allow-list and names no "crit" extension. "none" is never accepted, not even when
// configured. The key that verifies a token must be of the alg's type: HS256 only ever uses HMAC
// secrets, RS256 RSA public keys (2048 to 8192 bits), ES256 P-256 public keys with the JWS r||s
// signature; so an RSA public key can never serve as an HMAC secret. A token with a kid is checked
// against the keys bearing that id (static keys first, else the JWKS); a kid no key bears falls
// back to the static keys configured without an id. A token without a kid is checked against
// every key of its alg.
//
// After the signature, the claims: exp is required (unless AllowMissingExp) and the token is
// expired once now >= exp + leeway; nbf, when present, must be <= now + leeway; iss must equal
// Issuer and aud (a string or an array) must contain one of Audience, when those are configured.
// Numeric dates may be fractional; a date of the wrong type is a malformed claim.
//
// JWKS keys are fetched lazily, on the first token that needs them (Prefetch warms the cache at
// start-up), and kept for TTL. An expired cache is refreshed by one request while the others keep
// using the old keys; a kid the cache does not know triggers a refresh, at most one per
// MinRefreshInterval, which also spaces retries after a failed fetch. When a fetch fails, the keys
// last fetched keep working (stale-while-error) and the failure is logged; with no keys at all,
// tokens get 503. Responses are bounded (MaxBytes) and timed out (Timeout); the URL must be https
// unless it is a loopback address or AllowInsecureHTTP is set. JWKS entries with "use" other than
// "sig", symmetric ("oct") keys and algorithms other than RS256/ES256 are skipped.
//
// Claim forwarding: each name in ForwardClaims becomes the header Grpc-Metadata-X-Jwt-<name>, the
// name lower-cased and every byte outside [a-z0-9._-] replaced by '-' ("email" ->
// Grpc-Metadata-X-Jwt-Email, "https://ex.com/roles" -> Grpc-Metadata-X-Jwt-Https---Ex.com-Roles).
// Strings are sent as they are, numbers and booleans as their JSON text, arrays as one header
// value per element, objects as compact JSON. Values gRPC cannot carry as text metadata
// (non-printable or non-ASCII bytes) or longer than 4 KiB are left out.
//
// # API keys
//
// A key is read from the configured header (default X-API-Key) or from "Authorization: ApiKey
// <key>". The configuration holds only each key's SHA-256 (hex) and a name. The presented key is
// hashed and compared with crypto/subtle.ConstantTimeCompare against every configured hash, always
// all of them. To produce a configuration entry for a new key:
//
//	key=$(head -c 32 /dev/urandom | base64)   # give this to the client
//	echo -n "$key" | sha256sum                 # put this in the config, with a name
//
// or call HashKey. The -n matters: a trailing newline changes the hash.
//
// # Failures
//
//	no credential (not Optional)                401  WWW-Authenticate: Bearer realm=..., ApiKey realm=...
//	two Authorization or two key headers,
//	  or a key both in its header and in Authorization   400  invalid_request
//	malformed token (segments, base64, JSON,
//	  too long, crit)                           401  Bearer error="invalid_token"
//	alg not allowed / "none"                    401  invalid_token
//	kid unknown (after a JWKS refresh if due)   401  invalid_token
//	alg does not match the kid's key type       401  invalid_token
//	bad signature (tampered header or payload)  401  invalid_token
//	expired / not yet valid                     401  invalid_token
//	wrong or missing iss / aud                  401  invalid_token
//	malformed claims (exp not a number, ...)    401  invalid_token
//	JWKS never fetched successfully             503
//	unknown or empty API key                    401  ApiKey error="invalid_key"
//	client went away while waiting for a fetch  499
package auth
