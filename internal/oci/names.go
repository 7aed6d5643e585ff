package oci

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	// Registered here so that digest.Parse accepts sha512 everywhere.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// The grammar of the distribution specification, section "Pulling manifests".
var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// MaxNameLength bounds a repository name; the spec recommends clients keep
// registry host + name under 255 characters.
const MaxNameLength = 255

// ValidName reports whether s is a repository name per the specification.
func ValidName(s string) bool {
	return len(s) <= MaxNameLength && nameRe.MatchString(s)
}

// ValidTag reports whether s is a tag per the specification.
func ValidTag(s string) bool { return tagRe.MatchString(s) }

// ParseDigest parses and validates a digest, accepting only algorithms Berth
// can verify (sha256, sha512).
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("parsing digest %q: %w", s, err)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return d, nil
	}
	return "", fmt.Errorf("parsing digest %q: unsupported algorithm %q", s, d.Algorithm())
}

// IsDigest reports whether a manifest reference looks like a digest rather
// than a tag: tags can never contain a colon.
func IsDigest(ref string) bool { return strings.Contains(ref, ":") }
