package inventory

import (
	"cmp"
	"regexp"
	"strings"
)

// purl builds the package URL of p (github.com/package-url/purl-spec) on
// the operating system o. Distribution packages carry the distribution as
// namespace and "distro=<id>-<version>" so a matcher can pick the right
// advisories (Debian 12 and Ubuntu 22.04 ship different fixes).
func purl(p Package, o OS) string {
	var ns []string
	name := p.Name
	version := p.Version
	var quals [][2]string
	switch p.Ecosystem {
	case EcosystemRPM:
		// The purl spec's rpm type: the version is version-release and the
		// epoch a qualifier, as Trivy and Syft write it.
		ns = []string{cmp.Or(o.ID, "redhat")}
		if p.Arch != "" {
			quals = append(quals, [2]string{"arch", p.Arch})
		}
		if e, rest, ok := strings.Cut(version, ":"); ok {
			version = rest
			quals = append(quals, [2]string{"epoch", e})
		}
		if o.ID != "" && o.VersionID != "" {
			quals = append(quals, [2]string{"distro", o.ID + "-" + o.VersionID})
		}
		if p.SourceName != "" && p.SourceName != p.Name {
			quals = append(quals, [2]string{"upstream", p.SourceName})
		}
	case EcosystemDeb, EcosystemAPK:
		id := o.ID
		if id == "" {
			id = map[Ecosystem]string{EcosystemDeb: "debian", EcosystemAPK: "alpine"}[p.Ecosystem]
		}
		ns = []string{id}
		if p.Arch != "" {
			quals = append(quals, [2]string{"arch", p.Arch})
		}
		if o.ID != "" && o.VersionID != "" {
			quals = append(quals, [2]string{"distro", o.ID + "-" + o.VersionID})
		}
		if p.SourceName != "" && p.SourceName != p.Name {
			quals = append(quals, [2]string{"upstream", p.SourceName})
		}
	case EcosystemGo:
		// The module path is the namespace plus the name.
		segs := strings.Split(name, "/")
		ns, name = segs[:len(segs)-1], segs[len(segs)-1]
	case EcosystemNPM:
		if scope, n, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
			ns, name = []string{scope}, n
		}
	case EcosystemPyPI:
		name = normalizePyPI(name)
	case EcosystemMaven:
		if g, a, ok := strings.Cut(name, ":"); ok {
			ns, name = []string{g}, a
		}
	}

	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(string(p.Ecosystem))
	for _, s := range ns {
		b.WriteByte('/')
		b.WriteString(purlEscape(s))
	}
	b.WriteByte('/')
	b.WriteString(purlEscape(name))
	if version != "" {
		b.WriteByte('@')
		b.WriteString(purlEscape(version))
	}
	for i, q := range quals {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(q[0])
		b.WriteByte('=')
		b.WriteString(purlEscape(q[1]))
	}
	return b.String()
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// normalizePyPI is the PEP 503 normal form the purl spec asks for.
func normalizePyPI(name string) string {
	return strings.ToLower(pypiSeparators.ReplaceAllString(name, "-"))
}

// purlEscape percent-encodes everything but the unreserved characters and
// ':', which the purl spec leaves readable (Debian epochs).
func purlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == ':' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
