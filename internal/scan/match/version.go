package match

import (
	"fmt"
	"strings"

	npmsemver "github.com/Masterminds/semver/v3"
	pep440 "github.com/aquasecurity/go-pep440-version"
	apk "github.com/knqyf263/go-apk-version"
	rpm "github.com/knqyf263/go-rpm-version"
	mvn "github.com/masahiro331/go-mvn-version"
	"golang.org/x/mod/semver"
)

// version is a parsed version of one ecosystem; cmp is only ever called
// with a version of the same ecosystem.
type version interface {
	cmp(version) int
}

// parseFunc parses a version string of one ecosystem.
type parseFunc func(string) (version, error)

// maxVersionLen bounds the versions compared. Real versions are far
// shorter; an image or an advisory could carry anything, and some orders
// are quadratic in the worst case.
const maxVersionLen = 1024

// parseBounded is parse with the length bound.
func parseBounded(parse parseFunc, s string) (version, error) {
	if len(s) > maxVersionLen {
		return nil, fmt.Errorf("version of %d bytes is over the %d-byte limit", len(s), maxVersionLen)
	}
	return parse(s)
}

// orders maps an OSV ecosystem base to its version order. Ecosystems not
// listed are not matched (an inventory never produces them yet).
var orders = map[string]parseFunc{
	"Debian":      parseDeb,
	"Ubuntu":      parseDeb,
	"Alpine":      parseAPK,
	"Wolfi":       parseAPK,
	"Chainguard":  parseAPK,
	"Rocky Linux": parseRPM,
	"AlmaLinux":   parseRPM,
	"Red Hat":     parseRPM,
	"Go":          parseGo,
	"npm":         parseNPM,
	"PyPI":        parsePyPI,
	"Maven":       parseMaven,
}

type apkV struct{ v apk.Version }

func (a apkV) cmp(b version) int { return a.v.Compare(b.(apkV).v) }

func parseAPK(s string) (version, error) {
	v, err := apk.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("apk version %q: %w", s, err)
	}
	return apkV{v}, nil
}

type rpmV struct{ v rpm.Version }

func (a rpmV) cmp(b version) int { return a.v.Compare(b.(rpmV).v) }

// parseRPM accepts any non-empty string: rpmvercmp orders every string, as
// rpm itself does.
func parseRPM(s string) (version, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty rpm version")
	}
	return rpmV{rpm.NewVersion(s)}, nil
}

type goV string

func (a goV) cmp(b version) int { return semver.Compare(string(a), string(b.(goV))) }

// parseGo accepts module versions with or without the "v" the Go toolchain
// writes: OSV Go events have none, inventories carry it.
func parseGo(s string) (version, error) {
	v := "v" + strings.TrimPrefix(s, "v")
	if !semver.IsValid(v) {
		return nil, fmt.Errorf("go version %q is not semver", s)
	}
	return goV(v), nil
}

type npmV struct{ v *npmsemver.Version }

func (a npmV) cmp(b version) int { return a.v.Compare(b.(npmV).v) }

func parseNPM(s string) (version, error) {
	v, err := npmsemver.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("npm version %q: %w", s, err)
	}
	return npmV{v}, nil
}

type pypiV struct{ v pep440.Version }

func (a pypiV) cmp(b version) int { return a.v.Compare(b.(pypiV).v) }

func parsePyPI(s string) (version, error) {
	v, err := pep440.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("PEP 440 version %q: %w", s, err)
	}
	return pypiV{v}, nil
}

type mvnV struct{ v mvn.Version }

func (a mvnV) cmp(b version) int { return a.v.Compare(b.(mvnV).v) }

func parseMaven(s string) (version, error) {
	v, err := mvn.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("maven version %q: %w", s, err)
	}
	return mvnV{v}, nil
}
