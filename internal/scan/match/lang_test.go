package match

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

const (
	npmLodash = `{"id":"GHSA-35jh-r3h4-6jhm","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2021-23337"],
		"affected":[{"package":{"ecosystem":"npm","name":"lodash","purl":"pkg:npm/lodash"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}],
		"database_specific":{"severity":"HIGH"}}`
	npmScoped = `{"id":"GHSA-scop-ed00-0000","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"@babel/traverse"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"7.23.2"}]},
		          {"type":"SEMVER","events":[{"introduced":"8.0.0-alpha.0"},{"fixed":"8.0.0-alpha.4"}]}]}]}`
	npmLastAffected = `{"id":"GHSA-last-affe-cted","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"minimist"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.2.5"}]}]}]}`
	npmLimit = `{"id":"GHSA-limi-tedr-ange","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"limited"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"limit":"2.0.0"}]}]}]}`
	pypiDjango = `{"id":"PYSEC-2022-304","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"PyPI","name":"Django"},
		"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"4.0"},{"fixed":"4.0.8"},{"introduced":"4.1"},{"fixed":"4.1.2"}]}],
		"versions":["4.0","4.0.1"]}]}`
	mavenLog4j = `{"id":"GHSA-jfh8-c2jp-5v3q","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2021-44228"],
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}],
		"affected":[{"package":{"ecosystem":"Maven","name":"org.apache.logging.log4j:log4j-core"},
		"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0-beta9"},{"fixed":"2.15.0"}]}]},
		{"package":{"ecosystem":"Maven","name":"org.example:listed"},"versions":["1.0.0-special"]}]}`
)

func TestLanguages(t *testing.T) {
	db := dbOf(t, npmLodash, npmScoped, npmLastAffected, npmLimit, pypiDjango, mavenLog4j)
	pkg := func(eco inventory.Ecosystem, name, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, Ecosystem: eco}
	}
	npm := func(n, v string) inventory.Package { return pkg(inventory.EcosystemNPM, n, v) }
	py := func(n, v string) inventory.Package { return pkg(inventory.EcosystemPyPI, n, v) }
	mvn := func(n, v string) inventory.Package { return pkg(inventory.EcosystemMaven, n, v) }
	tests := []struct {
		name string
		pkg  inventory.Package
		want []string
	}{
		{"npm below fix", npm("lodash", "4.17.20"), []string{"GHSA-35jh-r3h4-6jhm lodash@4.17.20 fixed=4.17.21 fixed"}},
		{"npm at fix", npm("lodash", "4.17.21"), nil},
		{"npm prerelease of the fix", npm("lodash", "4.17.21-beta.1"), []string{"GHSA-35jh-r3h4-6jhm lodash@4.17.21-beta.1 fixed=4.17.21 fixed"}},
		{"npm scoped", npm("@babel/traverse", "7.22.0"), []string{"GHSA-scop-ed00-0000 @babel/traverse@7.22.0 fixed=7.23.2 fixed"}},
		{"npm second range", npm("@babel/traverse", "8.0.0-alpha.1"), []string{"GHSA-scop-ed00-0000 @babel/traverse@8.0.0-alpha.1 fixed=8.0.0-alpha.4 fixed"}},
		{"npm between ranges", npm("@babel/traverse", "7.23.2"), nil},
		{"npm names are case-sensitive", npm("Lodash", "1.0.0"), nil},
		{"last_affected is affected", npm("minimist", "1.2.5"), []string{"GHSA-last-affe-cted minimist@1.2.5 fixed= not-fixed"}},
		{"after last_affected", npm("minimist", "1.2.6"), nil},
		{"before introduced", npm("minimist", "0.9.0"), nil},
		{"below limit", npm("limited", "1.9.9"), []string{"GHSA-limi-tedr-ange limited@1.9.9 fixed= not-fixed"}},
		{"at limit", npm("limited", "2.0.0"), nil},
		{"PyPI second range, name normalised", py("django", "4.1.1"), []string{"PYSEC-2022-304 django@4.1.1 fixed=4.1.2 fixed"}},
		{"PyPI first range lists both fixes", py("Django", "4.0.7"), []string{"PYSEC-2022-304 Django@4.0.7 fixed=4.0.8,4.1.2 fixed"}},
		{"PyPI release candidate between ranges", py("django", "4.1rc1"), nil},
		{"PyPI post release of a fix", py("django", "4.0.8.post1"), nil},
		{"PyPI before", py("django", "3.2.20"), nil},
		{"PyPI explicit versions list", py("django", "4.0"), []string{"PYSEC-2022-304 django@4.0 fixed=4.0.8,4.1.2 fixed"}},
		{"Maven in range", mvn("org.apache.logging.log4j:log4j-core", "2.14.1"), []string{"GHSA-jfh8-c2jp-5v3q org.apache.logging.log4j:log4j-core@2.14.1 fixed=2.15.0 fixed"}},
		{"Maven 2.0 final is after beta9", mvn("org.apache.logging.log4j:log4j-core", "2.0"), []string{"GHSA-jfh8-c2jp-5v3q org.apache.logging.log4j:log4j-core@2.0 fixed=2.15.0 fixed"}},
		{"Maven alpha before beta9", mvn("org.apache.logging.log4j:log4j-core", "2.0-alpha1"), nil},
		{"Maven fixed", mvn("org.apache.logging.log4j:log4j-core", "2.15.0"), nil},
		{"Maven versions list only", mvn("org.example:listed", "1.0.0-special"), []string{"GHSA-jfh8-c2jp-5v3q org.example:listed@1.0.0-special fixed= not-fixed"}},
		{"Maven versions list miss", mvn("org.example:listed", "1.0.0"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Match(inv(inventory.OS{ID: "debian", VersionID: "12"}, tt.pkg), db), tt.want)
		})
	}
}

func TestGarbageVersions(t *testing.T) {
	garbageEvents := `{"id":"BAD-1","modified":"2024-01-01T00:00:00Z","affected":[
		{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"!!not a version!!"}]}]},
		{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"x.y.z"}]},{"type":"GIT","events":[{"introduced":"abc123"}]}]},
		{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"one.two"}]}]}]}`
	db := dbOf(t, garbageEvents, npmLodash, dsaOpenSSL)
	tests := []struct {
		name string
		pkg  inventory.Package
		note string
	}{
		{"garbage fixed event", inventory.Package{Name: "zlib1g", SourceName: "zlib", Version: "1:1.2.13.dfsg-1", Ecosystem: inventory.EcosystemDeb}, "BAD-1"},
		{"garbage introduced and a GIT range", inventory.Package{Name: "left-pad", Version: "1.0.0", Ecosystem: inventory.EcosystemNPM}, "BAD-1"},
		{"garbage Go event", inventory.Package{Name: "example.com/m", Version: "v1.0.0", Ecosystem: inventory.EcosystemGo}, "BAD-1"},
		{"garbage installed npm", inventory.Package{Name: "lodash", Version: "latest", Ecosystem: inventory.EcosystemNPM}, "not comparable"},
		{"garbage installed deb", inventory.Package{Name: "libssl3", SourceName: "openssl", Version: "ü:::", Ecosystem: inventory.EcosystemDeb}, "not comparable"},
		{"empty installed", inventory.Package{Name: "lodash", Ecosystem: inventory.EcosystemNPM}, "not comparable"},
		{"huge installed", inventory.Package{Name: "lodash", Version: strings.Repeat("9", 100000), Ecosystem: inventory.EcosystemNPM}, "over the 1024-byte limit"},
		{"unsupported ecosystem", inventory.Package{Name: "x", Version: "1", Ecosystem: "cargo"}, "not matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Run(inv(inventory.OS{ID: "debian", VersionID: "12"}, tt.pkg), db)
			if len(r.Findings) != 0 {
				t.Fatalf("garbage matched: %q", hits(r.Findings))
			}
			if len(r.Notes) == 0 || !strings.Contains(strings.Join(r.Notes, "\n"), tt.note) {
				t.Fatalf("notes = %q, want one mentioning %q", r.Notes, tt.note)
			}
		})
	}
	if r := Run(nil, db); len(r.Findings) != 0 {
		t.Fatal("nil inventory matched")
	}
	if r := Run(inv(inventory.OS{}), nil); len(r.Findings) != 0 {
		t.Fatal("nil db matched")
	}
}
