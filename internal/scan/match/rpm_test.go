package match

import (
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// Advisories in the shape osv.dev publishes for Rocky Linux (RLSA),
// AlmaLinux (ALSA) and Red Hat (RHSA): binary package names, full
// epoch:version-release fixed versions.
const (
	rlsaOpenSSL = `{"id":"RLSA-2024:1234","modified":"2024-03-01T00:00:00Z","aliases":["CVE-2023-5678"],
		"affected":[
		 {"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9_3"}]}]},
		 {"package":{"ecosystem":"Rocky Linux:8","name":"openssl-libs"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.1.1k-12.el8_9"}]}]}],
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`
	rlsaBash = `{"id":"RLSA-2024:0002","modified":"2024-03-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.1.8-6.el9"}]}]}]}`
	rlsaUnfixed = `{"id":"RLSA-2024:0003","modified":"2024-03-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"hello"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
	alsaEpoch = `{"id":"ALSA-2024:0004","modified":"2024-03-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"epochpkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2:1.0-1.el9"}]}]}]}`
	rhsaCurl = `{"id":"RHSA-2024:0005","modified":"2024-03-01T00:00:00Z",
		"affected":[
		 {"package":{"ecosystem":"Red Hat:enterprise_linux:9::baseos","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:7.76.1-26.el9_3.3"}]}]},
		 {"package":{"ecosystem":"Red Hat:rhel_eus:9.2::baseos","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:7.76.1-23.el9_2.9"}]}]}]}`
)

func TestRPMDistributions(t *testing.T) {
	db := dbOf(t, rlsaOpenSSL, rlsaBash, rlsaUnfixed, alsaEpoch, rhsaCurl, dsaOpenSSL)
	rocky9 := inventory.OS{ID: "rocky", VersionID: "9.3"}
	alma9 := inventory.OS{ID: "almalinux", VersionID: "9.3"}
	rpm := func(name, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, SourceName: name + "-src", Ecosystem: inventory.EcosystemRPM}
	}
	tests := []struct {
		name string
		os   inventory.OS
		pkgs []inventory.Package
		want []string
	}{
		{"hit, by binary name and epoch", rocky9, []inventory.Package{rpm("openssl-libs", "1:3.0.7-24.el9")},
			[]string{"RLSA-2024:1234 openssl-libs@1:3.0.7-24.el9 fixed=1:3.0.7-25.el9_3 fixed"}},
		{"fixed equals installed", rocky9, []inventory.Package{rpm("openssl-libs", "1:3.0.7-25.el9_3")}, nil},
		{"fixed equals installed, no epoch", rocky9, []inventory.Package{rpm("bash", "5.1.8-6.el9")}, nil},
		{"release below the fix", rocky9, []inventory.Package{rpm("bash", "5.1.8-4.el9")},
			[]string{"RLSA-2024:0002 bash@5.1.8-4.el9 fixed=5.1.8-6.el9 fixed"}},
		{"no epoch is epoch 0, below the fix's epoch 1", rocky9, []inventory.Package{rpm("openssl-libs", "9.9-1.el9")},
			[]string{"RLSA-2024:1234 openssl-libs@9.9-1.el9 fixed=1:3.0.7-25.el9_3 fixed"}},
		{"unfixed", rocky9, []inventory.Package{rpm("hello", "1:2.4-3.el9")},
			[]string{"RLSA-2024:0003 hello@1:2.4-3.el9 fixed= not-fixed"}},
		{"other major release's range", inventory.OS{ID: "rocky", VersionID: "8.9"}, []inventory.Package{rpm("openssl-libs", "1:1.1.1k-9.el8_7")},
			[]string{"RLSA-2024:1234 openssl-libs@1:1.1.1k-9.el8_7 fixed=1:1.1.1k-12.el8_9 fixed"}},
		{"Rocky advisories are not Alma's", alma9, []inventory.Package{rpm("openssl-libs", "1:3.0.7-24.el9")}, nil},
		{"higher epoch beats a bigger version", alma9, []inventory.Package{rpm("epochpkg", "3:0.1-1.el9")}, nil},
		{"lower epoch loses to a smaller version", alma9, []inventory.Package{rpm("epochpkg", "1:9.0-1.el9")},
			[]string{"ALSA-2024:0004 epochpkg@1:9.0-1.el9 fixed=2:1.0-1.el9 fixed"}},
		{"RHEL main stream, explicit epoch 0 in the fix", inventory.OS{ID: "rhel", VersionID: "9.3"}, []inventory.Package{rpm("curl", "7.76.1-26.el9_3.2")},
			[]string{"RHSA-2024:0005 curl@7.76.1-26.el9_3.2 fixed=0:7.76.1-26.el9_3.3 fixed"}},
		{"RHEL: a deb advisory of the same name is not an rpm's", inventory.OS{ID: "rhel", VersionID: "9.3"}, []inventory.Package{rpm("openssl", "1:3.0.7-24.el9")}, nil},
		{"rpm on Debian is noted, not matched", inventory.OS{ID: "debian", VersionID: "12"}, []inventory.Package{rpm("openssl", "3.0.0-1")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Match(inv(tt.os, tt.pkgs...), db), tt.want)
		})
	}
	r := Run(inv(inventory.OS{ID: "debian", VersionID: "12"}, rpm("openssl", "3.0.0-1")), db)
	if len(r.Notes) == 0 {
		t.Error("an rpm package on Debian was dropped without a note")
	}
}
