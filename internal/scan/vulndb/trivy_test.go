package vulndb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// trivyFixture is a Trivy database (schema 2 layout) in the shape trivy-db
// writes: data-source buckets of package buckets of advisories, and the
// vulnerability bucket.
var trivyFixture = map[string]map[string]map[string]any{
	"debian 12": {
		"openssl": {"CVE-2023-5363": map[string]any{"FixedVersion": "3.0.11-1~deb12u2", "VendorIDs": []string{"DSA-5532-1"}}},
		"glibc":   {"CVE-2010-4756": map[string]any{"Status": 5}}, // will_not_fix, no fixed version
		"tar":     {"CVE-2005-2541": map[string]any{"Status": 1}}, // not_affected
	},
	"alpine 3.19": {
		"openssl": {"CVE-2023-5678": map[string]any{"FixedVersion": "3.1.4-r3"}},
	},
	"go::The Go Vulnerability Database": {
		"golang.org/x/text": {"CVE-2022-32149": map[string]any{
			"VulnerableVersions": []string{"<0.3.8"}, "PatchedVersions": []string{"0.3.8"}, "VendorIDs": []string{"GO-2022-1059"}}},
	},
	"npm::GitHub Security Advisory npm": {
		"lodash": {"CVE-2021-23337": map[string]any{"VulnerableVersions": []string{">=4.0.0, <4.17.21", "=3.10.1"}}},
	},
	"fedora 39": {"curl": {"CVE-2023-38545": map[string]any{"FixedVersion": "8.2.1-3.fc39"}}},
}

var trivyVulns = map[string]any{
	"CVE-2023-5363": map[string]any{"Title": "openssl: key and IV length handling", "Severity": "HIGH",
		"CVSS":             map[string]any{"nvd": map[string]any{"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}},
		"LastModifiedDate": "2024-02-01T17:15:00Z", "References": []string{"https://www.openssl.org/news/secadv/20231024.txt"}},
	"CVE-2022-32149": map[string]any{"Severity": "HIGH", "PublishedDate": "2022-10-14T15:15:00Z"},
	"CVE-2021-23337": map[string]any{"Severity": "HIGH", "CVSS": map[string]any{"ghsa": map[string]any{"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}}},
	"CVE-2010-4756":  map[string]any{"Severity": "LOW"},
}

func writeTrivyDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trivy.db")
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(b *bolt.Bucket, k string, v any) {
		raw, _ := json.Marshal(v)
		if err := b.Put([]byte(k), raw); err != nil {
			t.Fatal(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for src, pkgs := range trivyFixture {
			sb, err := tx.CreateBucket([]byte(src))
			if err != nil {
				return err
			}
			for pkg, advs := range pkgs {
				pb, err := sb.CreateBucket([]byte(pkg))
				if err != nil {
					return err
				}
				for id, a := range advs {
					put(pb, id, a)
				}
			}
		}
		vb, err := tx.CreateBucket([]byte("vulnerability"))
		if err != nil {
			return err
		}
		for id, v := range trivyVulns {
			put(vb, id, v)
		}
		ds, err := tx.CreateBucket([]byte("data-source"))
		if err != nil {
			return err
		}
		put(ds, "debian 12", map[string]string{"ID": "debian", "Name": "Debian Security Tracker"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// trivyLayer packs trivy.db as the layer of ghcr.io/aquasecurity/trivy-db:2.
func trivyLayer(t *testing.T, dbPath string) string {
	t.Helper()
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	meta := []byte(`{"Version":2}`)
	tw.WriteHeader(&tar.Header{Name: "metadata.json", Mode: 0o644, Size: int64(len(meta)), Typeflag: tar.TypeReg})
	tw.Write(meta)
	tw.WriteHeader(&tar.Header{Name: "trivy.db", Mode: 0o644, Size: int64(len(raw)), Typeflag: tar.TypeReg})
	tw.Write(raw)
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "trivy-db.tar.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, paths ...string) *vulndb.DB {
	t.Helper()
	b := vulndb.NewBuilder(vulndb.Limits{})
	for _, p := range paths {
		if err := b.AddPath(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build()
}

func TestTrivyDB(t *testing.T) {
	dbPath := writeTrivyDB(t)
	db := load(t, dbPath)
	// CVE-2023-38545 is only in fedora, which Berth does not match; tar's
	// entry is not_affected.
	if db.Len() != 5 {
		t.Fatalf("%d advisories, want 5; status %+v", db.Len(), db.Status())
	}
	if st := db.Status(); !strings.Contains(strings.Join(st.Problems, "\n"), "fedora 39") {
		t.Errorf("the skipped fedora bucket is not reported: %q", st.Problems)
	}
	if layer := load(t, trivyLayer(t, dbPath)); layer.Version() != db.Version() {
		t.Errorf("the layer gives version %s, trivy.db %s", layer.Version(), db.Version())
	}

	deb := func(name, src, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, SourceName: src, SourceVersion: v, Ecosystem: inventory.EcosystemDeb}
	}
	tests := []struct {
		name string
		os   inventory.OS
		pkgs []inventory.Package
		want []string // "ID package@installed fixed status severity"
	}{
		{"Debian source package below the fix", inventory.OS{ID: "debian", VersionID: "12"},
			[]inventory.Package{deb("libssl3", "openssl", "3.0.11-1~deb12u1")},
			[]string{"CVE-2023-5363 libssl3@3.0.11-1~deb12u1 [3.0.11-1~deb12u2] fixed HIGH"}},
		{"Debian fixed equals installed", inventory.OS{ID: "debian", VersionID: "12"},
			[]inventory.Package{deb("libssl3", "openssl", "3.0.11-1~deb12u2")}, nil},
		{"Debian will not fix", inventory.OS{ID: "debian", VersionID: "12"},
			[]inventory.Package{deb("libc6", "glibc", "2.36-9+deb12u4")},
			[]string{"CVE-2010-4756 libc6@2.36-9+deb12u4 [] will-not-fix LOW"}},
		{"Debian not affected", inventory.OS{ID: "debian", VersionID: "12"}, []inventory.Package{deb("tar", "tar", "1.34+dfsg-1.2")}, nil},
		{"Alpine origin", inventory.OS{ID: "alpine", VersionID: "3.19.1"},
			[]inventory.Package{{Name: "libcrypto3", Version: "3.1.4-r1", SourceName: "openssl", SourceVersion: "3.1.4-r1", Ecosystem: inventory.EcosystemAPK}},
			[]string{"CVE-2023-5678 libcrypto3@3.1.4-r1 [3.1.4-r3] fixed UNKNOWN"}},
		{"Go module below the fix", inventory.OS{},
			[]inventory.Package{{Name: "golang.org/x/text", Version: "v0.3.7", Ecosystem: inventory.EcosystemGo}},
			[]string{"CVE-2022-32149 golang.org/x/text@v0.3.7 [0.3.8] fixed HIGH"}},
		{"Go module at the fix", inventory.OS{},
			[]inventory.Package{{Name: "golang.org/x/text", Version: "v0.3.8", Ecosystem: inventory.EcosystemGo}}, nil},
		{"npm range and exact version", inventory.OS{},
			[]inventory.Package{{Name: "lodash", Version: "4.17.20", Ecosystem: inventory.EcosystemNPM}, {Name: "lodash", Version: "3.10.1", Ecosystem: inventory.EcosystemNPM}, {Name: "lodash", Version: "3.10.2", Ecosystem: inventory.EcosystemNPM}},
			[]string{"CVE-2021-23337 lodash@3.10.1 [] not-fixed HIGH", "CVE-2021-23337 lodash@4.17.20 [4.17.21] fixed HIGH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.pkgs {
				tt.pkgs[i].PURL = "pkg:x/" + tt.pkgs[i].Name
			}
			fs := match.Match(&inventory.Inventory{OS: tt.os, Packages: tt.pkgs, Status: inventory.StatusComplete}, db)
			got := []string{}
			for _, f := range fs {
				got = append(got, f.ID+" "+f.Package+"@"+f.InstalledVersion+" ["+strings.Join(f.FixedVersions, ",")+"] "+string(f.FixStatus)+" "+string(f.Severity))
				if f.DBVersion != db.Version() {
					t.Errorf("finding records version %s, want %s", f.DBVersion, db.Version())
				}
			}
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("findings\n got %q\nwant %q", got, want)
			}
		})
	}

	// The same advisory written as OSV gives the same finding, apart from
	// the database version.
	osvDir := t.TempDir()
	os.WriteFile(filepath.Join(osvDir, "CVE-2023-5363.json"), []byte(`{"id":"CVE-2023-5363","modified":"2024-02-01T17:15:00Z",
		"aliases":["DSA-5532-1"],"summary":"openssl: key and IV length handling",
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
		"references":[{"type":"WEB","url":"https://www.openssl.org/news/secadv/20231024.txt"}],
		"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`), 0o600)
	inv := &inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}, Status: inventory.StatusComplete,
		Packages: []inventory.Package{deb("libssl3", "openssl", "3.0.11-1~deb12u1")}}
	fromTrivy, fromOSV := match.Match(inv, db), match.Match(inv, load(t, osvDir))
	if len(fromTrivy) != 1 || len(fromOSV) != 1 {
		t.Fatalf("findings: trivy %d, osv %d", len(fromTrivy), len(fromOSV))
	}
	fromTrivy[0].DBVersion, fromOSV[0].DBVersion = "", ""
	if !reflect.DeepEqual(fromTrivy[0], fromOSV[0]) {
		t.Errorf("the same advisory differs by database:\ntrivy %+v\nosv   %+v", fromTrivy[0], fromOSV[0])
	}
}

func TestTrivyDBCorrupt(t *testing.T) {
	dbPath := writeTrivyDB(t)
	raw, _ := os.ReadFile(dbPath)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"truncated after the meta pages", raw[:8192]},
		{"pages zeroed", append(append([]byte{}, raw[:8192]...), make([]byte, len(raw)-8192)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "trivy.db")
			os.WriteFile(p, tt.data, 0o600)
			b := vulndb.NewBuilder(vulndb.Limits{})
			if err := b.AddPath(context.Background(), p); err == nil {
				t.Errorf("a corrupt trivy.db imported without error (%d advisories)", b.Build().Len())
			}
		})
	}
}
