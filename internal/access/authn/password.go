// Package authn turns credentials into a Principal: password hashes,
// Basic and Bearer credentials, the bootstrap admin account and the
// registry token endpoint (GET /token).
package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the OWASP minimum (19 MiB, 2 passes, 1 lane). The
// registry verifies a password once per login or token request and caches
// the result for Basic-on-every-request clients, so this cost is rare.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// Bounds on what a stored or offered secret may be; parsing a hash from the
// database never allocates what a corrupted row asks for.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
	maxHashMemory  = 1 << 20 // KiB
	maxHashTime    = 16
)

var b64 = base64.RawStdEncoding.Strict()

// ErrPassword reports an unacceptable new password.
var ErrPassword = errors.New("unacceptable password")

// CheckPassword refuses passwords too short or too long to be sensible.
func CheckPassword(pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("%w: shorter than %d characters", ErrPassword, MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrPassword, MaxPasswordLen)
	}
	return nil
}

// HashPassword returns an argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func HashPassword(pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash, comparing in constant
// time. A malformed hash never matches.
func VerifyPassword(hash, pw string) bool {
	p, ok := parseHash(hash)
	if !ok || len(pw) > MaxPasswordLen {
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseHash(h string) (argonParams, bool) {
	var p argonParams
	parts := strings.Split(h, "$")
	if len(h) > 512 || len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, false
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 {
		return p, false
	}
	if p.memory < 8 || p.memory > maxHashMemory || p.time < 1 || p.time > maxHashTime || threads < 1 || threads > 16 {
		return p, false
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, false
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, false
	}
	return p, true
}

// GeneratePassword returns a random password of 24 URL-safe characters
// (144 bits).
func GeneratePassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
