package match

import (
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// Hand-written advisories in the shape osv.dev publishes for Debian
// (per source package, ECOSYSTEM ranges, "Debian:<major>"), Ubuntu and
// Alpine ("Alpine:v<major>.<minor>", keyed by origin).
const (
	dsaOpenSSL = `{"id":"DSA-5532-1","modified":"2023-10-30T00:00:00Z","aliases":["CVE-2023-5363"],
		"summary":"openssl security update",
		"affected":[
		 {"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]},
		 {"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1w-0+deb11u1"}]}]}],
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}`
	debEpoch = `{"id":"DEBIAN-CVE-2024-0001","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Debian:12","name":"epochpkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:2.4-1"}]}]}]}`
	debTilde = `{"id":"DEBIAN-CVE-2024-0002","modified":"2024-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Debian:12","name":"tildepkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-1"}]}]}]}`
	debUnfixed = `{"id":"DEBIAN-CVE-2024-0003","modified":"2024-01-01T00:00:00Z","database_specific":{"severity":"unimportant"},
		"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
	ubuntuSSL = `{"id":"UBUNTU-CVE-2023-5363","modified":"2023-11-01T00:00:00Z","severity":[{"type":"Ubuntu","score":"high"}],
		"affected":[
		 {"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.2-0ubuntu1.12"}]}]},
		 {"package":{"ecosystem":"Ubuntu:Pro:18.04:LTS","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
	alpineSSL = `{"id":"ALPINE-CVE-2023-5678","modified":"2023-12-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r3"}]}]}]}`
)

func TestDistributions(t *testing.T) {
	db := dbOf(t, dsaOpenSSL, debEpoch, debTilde, debUnfixed, ubuntuSSL, alpineSSL)
	debian12 := inventory.OS{ID: "debian", VersionID: "12"}
	deb := func(name, src, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, SourceName: src, SourceVersion: v, Ecosystem: inventory.EcosystemDeb}
	}
	apk := func(name, origin, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, SourceName: origin, SourceVersion: v, Ecosystem: inventory.EcosystemAPK}
	}
	tests := []struct {
		name string
		os   inventory.OS
		pkgs []inventory.Package
		want []string
	}{
		{"binary packages matched through their source", debian12,
			[]inventory.Package{deb("libssl3", "openssl", "3.0.11-1~deb12u1"), deb("openssl", "openssl", "3.0.11-1~deb12u1")},
			[]string{"DSA-5532-1 libssl3@3.0.11-1~deb12u1 fixed=3.0.11-1~deb12u2 fixed", "DSA-5532-1 openssl@3.0.11-1~deb12u1 fixed=3.0.11-1~deb12u2 fixed"}},
		{"fixed equals installed", debian12, []inventory.Package{deb("libssl3", "openssl", "3.0.11-1~deb12u2")}, nil},
		{"tilde sorts before the release", debian12, []inventory.Package{deb("libssl3", "openssl", "3.0.11-1")}, nil},
		{"other Debian release's range", inventory.OS{ID: "debian", VersionID: "11"},
			[]inventory.Package{deb("libssl1.1", "openssl", "1.1.1n-0+deb11u5")},
			[]string{"DSA-5532-1 libssl1.1@1.1.1n-0+deb11u5 fixed=1.1.1w-0+deb11u1 fixed"}},
		{"release not in the advisory", inventory.OS{ID: "debian", VersionID: "10"}, []inventory.Package{deb("libssl1.1", "openssl", "1.1.0-1")}, nil},
		{"OS without a version id", inventory.OS{ID: "debian"}, []inventory.Package{deb("libssl3", "openssl", "3.0.0-1")}, nil},
		{"epoch below the fix", debian12, []inventory.Package{deb("epochpkg", "", "1:2.3-1")},
			[]string{"DEBIAN-CVE-2024-0001 epochpkg@1:2.3-1 fixed=1:2.4-1 fixed"}},
		{"no epoch is epoch 0", debian12, []inventory.Package{deb("epochpkg", "", "9.9-1")},
			[]string{"DEBIAN-CVE-2024-0001 epochpkg@9.9-1 fixed=1:2.4-1 fixed"}},
		{"higher epoch beats a bigger upstream", debian12, []inventory.Package{deb("epochpkg", "", "2:1.0-1")}, nil},
		{"rc with tilde is before the fix", debian12, []inventory.Package{deb("tildepkg", "", "1.0~rc1-1")},
			[]string{"DEBIAN-CVE-2024-0002 tildepkg@1.0~rc1-1 fixed=1.0-1 fixed"}},
		{"debian revision after the fix", debian12, []inventory.Package{deb("tildepkg", "", "1.0-1+b1")}, nil},
		{"unfixed", debian12, []inventory.Package{deb("libc6", "glibc", "2.36-9+deb12u4")},
			[]string{"DEBIAN-CVE-2024-0003 libc6@2.36-9+deb12u4 fixed= will-not-fix"}},
		{"Ubuntu LTS", inventory.OS{ID: "ubuntu", VersionID: "22.04"}, []inventory.Package{deb("libssl3", "openssl", "3.0.2-0ubuntu1.10")},
			[]string{"UBUNTU-CVE-2023-5363 libssl3@3.0.2-0ubuntu1.10 fixed=3.0.2-0ubuntu1.12 fixed"}},
		{"Ubuntu Pro ranges are not the archive's", inventory.OS{ID: "ubuntu", VersionID: "18.04"}, []inventory.Package{deb("libssl1.1", "openssl", "1.1.1-1ubuntu2.1~18.04.23")}, nil},
		{"Debian advisories do not apply to Ubuntu", inventory.OS{ID: "ubuntu", VersionID: "12"}, []inventory.Package{deb("libc6", "glibc", "2.0-1")}, nil},
		{"Alpine by origin", inventory.OS{ID: "alpine", VersionID: "3.19.1"}, []inventory.Package{apk("libcrypto3", "openssl", "3.1.4-r2")},
			[]string{"ALPINE-CVE-2023-5678 libcrypto3@3.1.4-r2 fixed=3.1.4-r3 fixed"}},
		{"Alpine fixed", inventory.OS{ID: "alpine", VersionID: "3.19.1"}, []inventory.Package{apk("libcrypto3", "openssl", "3.1.4-r3")}, nil},
		{"Alpine later upstream", inventory.OS{ID: "alpine", VersionID: "3.19.0"}, []inventory.Package{apk("libcrypto3", "openssl", "3.1.5-r0")}, nil},
		{"Alpine other release", inventory.OS{ID: "alpine", VersionID: "3.18.4"}, []inventory.Package{apk("libcrypto3", "openssl", "3.1.4-r0")}, nil},
		{"deb packages on an unknown OS", inventory.OS{ID: "mystery", VersionID: "1"}, []inventory.Package{deb("libssl3", "openssl", "1.0-1")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Match(inv(tt.os, tt.pkgs...), db), tt.want)
		})
	}
}

func TestDistroFindingFields(t *testing.T) {
	db := dbOf(t, dsaOpenSSL, debUnfixed, ubuntuSSL)
	p := inventory.Package{Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u1",
		Ecosystem: inventory.EcosystemDeb, Layer: "sha256:base"}
	q := inventory.Package{Name: "libc6", Version: "2.36-9", SourceName: "glibc", SourceVersion: "2.36-9", Ecosystem: inventory.EcosystemDeb}
	fs := Match(inv(inventory.OS{ID: "debian", VersionID: "12"}, q, p), db)
	if len(fs) != 2 {
		t.Fatalf("findings = %q", hits(fs))
	}
	// Most severe first: the CVSS 7.5 DSA before the "unimportant" one.
	f := fs[0]
	if f.ID != "DSA-5532-1" || f.Severity != "HIGH" || f.CVSSScore != 7.5 || f.CVSSVector == "" ||
		f.Source != "openssl" || f.Layer != "sha256:base" || f.Aliases[0] != "CVE-2023-5363" {
		t.Fatalf("finding = %+v", f)
	}
	if fs[1].Severity != "LOW" || fs[1].FixStatus != WillNotFix {
		t.Fatalf("finding = %+v", fs[1])
	}
	p.Version, p.SourceVersion = "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.10"
	u := Match(inv(inventory.OS{ID: "ubuntu", VersionID: "22.04"}, p), db)
	if len(u) != 1 || u[0].Severity != "HIGH" || u[0].CVSSScore != 0 {
		t.Fatalf("ubuntu findings = %+v", u)
	}
}
