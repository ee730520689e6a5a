package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// The algorithms the package implements.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

const (
	minHMACBytes = 32 // RFC 7518 3.2: a key at least as long as the hash output
	minRSABits   = 2048
	maxRSABits   = 8192 // bounds the cost of one verification
)

// Key is one static verification key. Exactly one of Secret, SecretFile, PEM and PEMFile is set.
type Key struct {
	// ID is matched against a token's kid. Empty: the key is tried for every token of its alg.
	ID string
	// Algorithm is optional; when set it must agree with the key's type (HS256 for a secret,
	// RS256 for an RSA key, ES256 for a P-256 key).
	Algorithm string
	// Secret is an HS256 secret, at least 32 bytes, used as is.
	Secret string
	// SecretFile holds an HS256 secret; one trailing newline is dropped.
	SecretFile string
	// PEM is an inline public key: PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or CERTIFICATE.
	PEM string
	// PEMFile is a file holding such a PEM block.
	PEMFile string
}

// verifyKey is a key ready to check signatures of exactly one alg.
type verifyKey struct {
	id     string
	alg    string
	secret []byte
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
}

// verify reports whether sig is a valid signature of input under k for k's own alg. The token's
// alg is compared with k.alg before this is called, so a key only ever serves its own alg.
func (k *verifyKey) verify(input, sig []byte) bool {
	switch k.alg {
	case HS256:
		if len(sig) != sha256.Size {
			return false
		}
		m := hmac.New(sha256.New, k.secret)
		m.Write(input)
		return hmac.Equal(m.Sum(nil), sig)
	case RS256:
		h := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, h[:], sig) == nil
	case ES256:
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, h[:], r, s)
	}
	return false
}

// loadKey turns a configured Key into a verifyKey; i numbers it in errors.
func loadKey(i int, c Key) (*verifyKey, error) {
	where := fmt.Sprintf("jwt.keys[%d]", i)
	if c.ID != "" {
		where = fmt.Sprintf("jwt.keys[%d] (id %q)", i, c.ID)
	}
	set := 0
	for _, s := range []string{c.Secret, c.SecretFile, c.PEM, c.PEMFile} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("%s: set exactly one of secret, secret_file, pem, pem_file", where)
	}
	var k *verifyKey
	var err error
	switch {
	case c.Secret != "":
		k, err = secretKey([]byte(c.Secret))
	case c.SecretFile != "":
		var b []byte
		if b, err = os.ReadFile(c.SecretFile); err == nil {
			s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			k, err = secretKey([]byte(s))
		}
	case c.PEM != "":
		k, err = pemKey([]byte(c.PEM))
	default:
		var b []byte
		if b, err = os.ReadFile(c.PEMFile); err == nil {
			k, err = pemKey(b)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if c.Algorithm != "" && c.Algorithm != k.alg {
		return nil, fmt.Errorf("%s: algorithm %q does not match the key, which is for %s", where, c.Algorithm, k.alg)
	}
	k.id = c.ID
	return k, nil
}

func secretKey(b []byte) (*verifyKey, error) {
	if len(b) < minHMACBytes {
		return nil, fmt.Errorf("an HS256 secret needs at least %d bytes, got %d", minHMACBytes, len(b))
	}
	return &verifyKey{alg: HS256, secret: b}, nil
}

// pemKey parses one PEM block holding a public key or a certificate.
func pemKey(b []byte) (*verifyKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block: give one key per entry")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, fmt.Errorf("PEM block %q is a private key: give the gateway the public key only", block.Type)
		}
		return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, err
	}
	return publicKey(pub)
}

// publicKey checks a parsed public key and picks its alg.
func publicKey(pub any) (*verifyKey, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(p); err != nil {
			return nil, err
		}
		return &verifyKey{alg: RS256, rsa: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s: ES256 needs P-256", p.Curve.Params().Name)
		}
		return &verifyKey{alg: ES256, ec: p}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T: want RSA or ECDSA P-256", pub)
}

func checkRSA(p *rsa.PublicKey) error {
	bits := p.N.BitLen()
	if bits < minRSABits || bits > maxRSABits {
		return fmt.Errorf("RSA key of %d bits: want %d to %d", bits, minRSABits, maxRSABits)
	}
	if p.E < 3 || p.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is invalid", p.E)
	}
	return nil
}
