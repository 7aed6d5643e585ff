package inventory

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const rockyOSRelease = `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
`

// The fixtures in testdata/rpm hold the same three packages in the three
// formats; make-fixtures.sh says how they were made.
func TestReadRPMDatabases(t *testing.T) {
	want := []Package{
		{Ecosystem: EcosystemRPM, Name: "bash", Version: "5.1.8-6.el9", SourceName: "bash", SourceVersion: "5.1.8-6.el9",
			Arch: "noarch", Vendor: "Berth Test", PURL: "pkg:rpm/rocky/bash@5.1.8-6.el9?arch=noarch&distro=rocky-9.3"},
		{Ecosystem: EcosystemRPM, Name: "hello", Version: "1:2.4-3.el9", SourceName: "hello", SourceVersion: "2.4-3.el9",
			Arch: "x86_64", Vendor: "Berth Test", PURL: "pkg:rpm/rocky/hello@2.4-3.el9?arch=x86_64&epoch=1&distro=rocky-9.3"},
		{Ecosystem: EcosystemRPM, Name: "openssl-libs", Version: "1:3.0.7-24.el9", SourceName: "openssl-libs", SourceVersion: "3.0.7-24.el9",
			Arch: "x86_64", Vendor: "Berth Test", PURL: "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&epoch=1&distro=rocky-9.3"},
	}
	for _, tt := range []struct{ fixture, path string }{
		{"rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"},
		{"rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"},
		{"Packages", "var/lib/rpm/Packages"},
		{"Packages.db", "usr/lib/sysimage/rpm/Packages.db"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			db, err := os.ReadFile(filepath.Join("testdata/rpm", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			scratch := t.TempDir()
			l := gzLayer(t, file("etc/os-release", rockyOSRelease), binFile(tt.path, db))
			inv := mustRead(t, Options{ScratchDir: scratch}, l)
			if inv.Status != StatusComplete {
				t.Fatalf("status %s: %q", inv.Status, inv.Reasons)
			}
			var got []Package
			for _, p := range inv.Packages {
				if p.Layer != l.Digest() || p.Path != tt.path {
					t.Errorf("%s: layer %s path %s", p.Name, p.Layer, p.Path)
				}
				p.Layer, p.Path = "", ""
				got = append(got, p)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("packages\n got %+v\nwant %+v", got, want)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("scratch dir not cleaned: %v", left)
			}
		})
	}
}

// Corrupting any byte of a database must give an error or packages, never a
// panic or a hang; offsets and lengths that point anywhere are the point.
func TestParseRPMDBCorrupt(t *testing.T) {
	for _, name := range []string{"Packages", "Packages.db"} {
		db, err := os.ReadFile(filepath.Join("testdata/rpm", name))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(db); i += 7 {
			for _, v := range []byte{0x00, 0xff, 0x7f} {
				c := bytes.Clone(db)
				c[i] = v
				pkgs, err := parseRPMDB(context.Background(), c, nil)
				if err == nil && len(pkgs) > 3 {
					t.Fatalf("%s byte %d = %#x: %d packages from a 3-package database", name, i, v, len(pkgs))
				}
			}
		}
	}
}

func TestParseRPMDBHostile(t *testing.T) {
	meta := func(pageSize, last uint32) []byte {
		b := make([]byte, pageSize*(last+1))
		binary.LittleEndian.PutUint32(b[12:], bdbHashMagic)
		binary.LittleEndian.PutUint32(b[20:], pageSize)
		b[25] = bdbPageHashMeta
		binary.LittleEndian.PutUint32(b[32:], last)
		return b
	}
	// A hash page whose one item points at an overflow page that points
	// back at itself.
	cycle := meta(512, 2)
	p := cycle[512:]
	p[25] = bdbPageHash
	binary.LittleEndian.PutUint16(p[20:], 2)
	binary.LittleEndian.PutUint16(p[26:], 500) // key
	binary.LittleEndian.PutUint16(p[28:], 480) // data
	p[480] = bdbItemOffPage
	binary.LittleEndian.PutUint32(p[484:], 2)
	binary.LittleEndian.PutUint32(p[488:], 1<<20)
	o := cycle[1024:]
	o[25] = bdbPageOverflow
	binary.LittleEndian.PutUint16(o[22:], 400)
	binary.LittleEndian.PutUint32(o[16:], 2)

	ndbHuge := make([]byte, 4096)
	copy(ndbHuge, "RpmP")
	binary.LittleEndian.PutUint32(ndbHuge[12:], 2048)

	header := make([]byte, 8)
	binary.BigEndian.PutUint32(header, 1<<30)

	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"cyclic overflow chain", cycle, "overflow"},
		{"ndb claiming more slot pages than bytes", ndbHuge, "slot pages"},
		{"empty", nil, "not an rpm database"},
		{"bdb page size not a power of two", meta(512, 0)[:512], "page size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "bdb page size not a power of two" {
				binary.LittleEndian.PutUint32(tt.data[20:], 1000)
			}
			_, err := parseRPMDB(context.Background(), tt.data, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := parseRPMHeader(header); err == nil {
		t.Error("a header claiming 2^30 tags parsed")
	}
}
