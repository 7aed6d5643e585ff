package match

import (
	"strings"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// target is what one inventory package is looked up as.
type target struct {
	ecosystem string // OSV ecosystem base
	name      string // the name advisories use (the source package for distributions)
	version   string // the version compared (the source version for distributions)
	// distro is set for distribution packages, whose advisories are per
	// release; want is the release the image's OS is (see acceptsRelease).
	distro bool
	want   string
}

// distroEcosystems maps an os-release ID to the OSV ecosystem of its
// packages. Only distributions whose OSV data is keyed the way the inventory
// reads packages are listed; a derivative (ID_LIKE=debian) is not matched
// against its parent's advisories, whose versions it does not share.
var distroEcosystems = map[string]string{
	"debian":     "Debian",
	"ubuntu":     "Ubuntu",
	"alpine":     "Alpine",
	"wolfi":      "Wolfi",
	"chainguard": "Chainguard",
	"rocky":      "Rocky Linux",
	"almalinux":  "AlmaLinux",
	"rhel":       "Red Hat",
}

// targetOf returns how p is matched on o, or a reason it cannot be.
func targetOf(p *inventory.Package, o inventory.OS) (target, string) {
	switch p.Ecosystem {
	case inventory.EcosystemGo:
		return target{ecosystem: "Go", name: p.Name, version: p.Version}, ""
	case inventory.EcosystemNPM:
		return target{ecosystem: "npm", name: p.Name, version: p.Version}, ""
	case inventory.EcosystemPyPI:
		return target{ecosystem: "PyPI", name: p.Name, version: p.Version}, ""
	case inventory.EcosystemMaven:
		return target{ecosystem: "Maven", name: p.Name, version: p.Version}, ""
	case inventory.EcosystemDeb, inventory.EcosystemAPK, inventory.EcosystemRPM:
	default:
		return target{}, "ecosystem " + string(p.Ecosystem) + " is not matched"
	}
	eco, ok := distroEcosystems[strings.ToLower(o.ID)]
	if !ok {
		return target{}, "operating system " + quoteOr(o.ID, "unknown") + " has no advisories"
	}
	if p.Ecosystem == inventory.EcosystemRPM {
		// Red Hat, Rocky and AlmaLinux advisories name binary packages and
		// their full epoch:version-release.
		t := target{ecosystem: eco, name: p.Name, version: p.Version, distro: true, want: wantRelease(eco, o.VersionID)}
		if !rpmEcosystems[eco] {
			return target{}, "operating system " + quoteOr(o.ID, "unknown") + " has no rpm advisories"
		}
		return t, ""
	}
	if rpmEcosystems[eco] {
		return target{}, "operating system " + quoteOr(o.ID, "unknown") + " has no " + string(p.Ecosystem) + " advisories"
	}
	t := target{ecosystem: eco, name: p.SourceName, version: p.SourceVersion}
	if t.name == "" {
		t.name = p.Name
	}
	if t.version == "" {
		t.version = p.Version
	}
	t.distro, t.want = true, wantRelease(eco, o.VersionID)
	return t, ""
}

// rpmEcosystems are the OSV ecosystems of rpm-based distributions.
var rpmEcosystems = map[string]bool{"Red Hat": true, "Rocky Linux": true, "AlmaLinux": true}

func quoteOr(s, or string) string {
	if s == "" {
		return or
	}
	return `"` + s + `"`
}

// wantRelease is the OSV release string of an OS of version id.
func wantRelease(eco, id string) string {
	switch eco {
	case "Alpine":
		// os-release says 3.19.1, OSV says v3.19.
		parts := strings.SplitN(id, ".", 3)
		if len(parts) >= 2 {
			return "v" + parts[0] + "." + parts[1]
		}
		return ""
	case "Debian", "Rocky Linux", "AlmaLinux", "Red Hat":
		// Debian's VERSION_ID is "12"; Rocky's is "9.3" and OSV says "9".
		major, _, _ := strings.Cut(id, ".")
		return major
	}
	return id
}

// acceptsRelease says whether an advisory entry for release rel (what
// follows "Debian:") applies to the image. An entry without a release
// applies to every release; an OS without a version id (Debian testing)
// matches only those.
func (t *target) acceptsRelease(rel string) bool {
	if !t.distro || rel == "" {
		return true
	}
	if t.want == "" {
		return false
	}
	if t.ecosystem == "Ubuntu" {
		// "22.04:LTS" matches; "Pro:22.04:LTS" covers ESM packages,
		// whose versions the standard archive does not ship.
		r, _, _ := strings.Cut(rel, ":")
		return r == t.want
	}
	if t.ecosystem == "Red Hat" {
		// "enterprise_linux:9::appstream": the product stream, then the
		// major release. Extended-support streams ("rhel_eus:9.2::baseos")
		// ship other builds and are not matched.
		f := strings.Split(rel, ":")
		return len(f) >= 2 && f[0] == "enterprise_linux" && f[1] == t.want
	}
	return rel == t.want
}
