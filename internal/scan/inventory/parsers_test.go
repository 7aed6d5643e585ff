package inventory

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseDpkg(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Package
		wantErr string
	}{
		{name: "empty", in: ""},
		{name: "blank lines only", in: "\n\n\r\n"},
		{
			name: "CRLF and trailing paragraph without newline",
			in:   "Package: a\r\nVersion: 1.0\r\nArchitecture: arm64\r\n\r\nPackage: b\r\nVersion: 2:3.4-1\r\nSource: bsrc",
			want: []Package{
				{Name: "a", Version: "1.0", Arch: "arm64", SourceName: "a", SourceVersion: "1.0", Ecosystem: EcosystemDeb},
				{Name: "b", Version: "2:3.4-1", SourceName: "bsrc", SourceVersion: "2:3.4-1", Ecosystem: EcosystemDeb},
			},
		},
		{
			name: "source with version",
			in:   "Package: libx-bin\nVersion: 1.0-1+b2\nSource: libx (1.0-1)\n",
			want: []Package{{Name: "libx-bin", Version: "1.0-1+b2", SourceName: "libx", SourceVersion: "1.0-1", Ecosystem: EcosystemDeb}},
		},
		{
			name: "not installed states are skipped",
			in:   "Package: a\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: b\nStatus: purge ok not-installed\n\nPackage: c\nStatus: install ok half-configured\nVersion: 3\n",
			want: []Package{{Name: "c", Version: "3", SourceName: "c", SourceVersion: "3", Ecosystem: EcosystemDeb}},
		},
		{name: "no Package", in: "Version: 1\n", wantErr: "line 1: paragraph without Package"},
		{name: "installed without Version", in: "Package: a\nStatus: install ok installed\n", wantErr: `package "a" without Version`},
		{name: "malformed Source", in: "Package: a\nVersion: 1\nSource: s 1.0\n", wantErr: "malformed Source"},
		{name: "continuation first", in: " leading continuation\n", wantErr: "continuation outside a paragraph"},
		{name: "no colon", in: "Package: a\nVersion: 1\nrubbish\n", wantErr: "line 3"},
		{name: "space in key", in: "Pack age: a\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDpkg([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("package %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseAPK(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Package
		wantErr string
	}{
		{name: "empty", in: ""},
		{
			name: "origin and no trailing blank line",
			in:   "C:Q1=\nP:busybox-binsh\nV:1.36.1-r15\nA:aarch64\no:busybox\nr:foo\n\nP:zlib\nV:1.3.1-r0\n",
			want: []Package{
				{Name: "busybox-binsh", Version: "1.36.1-r15", Arch: "aarch64", SourceName: "busybox", SourceVersion: "1.36.1-r15", Ecosystem: EcosystemAPK},
				{Name: "zlib", Version: "1.3.1-r0", SourceName: "zlib", SourceVersion: "1.3.1-r0", Ecosystem: EcosystemAPK},
			},
		},
		{name: "no version", in: "P:a\n\n", wantErr: "line 1: package without a P or V field"},
		{name: "not K:value", in: "P:a\nV:1\nlong line\n", wantErr: "line 3"},
		{name: "one character line", in: "P\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAPK([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("package %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// checkParsed holds for the output of any parser, whatever the input.
func checkParsed(t *testing.T, in []byte, pkgs []Package) {
	for _, p := range pkgs {
		if p.Name == "" || p.Version == "" {
			t.Fatalf("package without name or version %+v from %q", p, in)
		}
		if len(p.Name)+len(p.Version)+len(p.SourceName)+len(p.SourceVersion)+len(p.Arch) > 5*len(in) {
			t.Fatalf("package %+v larger than its input", p)
		}
		u := purl(p, OS{ID: "debian", VersionID: "12"})
		if !strings.HasPrefix(u, "pkg:"+string(p.Ecosystem)+"/") || !utf8.ValidString(u) || strings.ContainsAny(u, " \n\t#") {
			t.Fatalf("bad purl %q for %+v", u, p)
		}
	}
}

func FuzzParseDpkg(f *testing.F) {
	f.Add([]byte(dpkgStatus))
	f.Add([]byte("Package: a\nVersion: 1\nSource: b (2)\n\n \n"))
	f.Add([]byte("Package: a\r\nStatus: install ok installed\r\nVersion: 1:2~3\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pkgs, _ := parseDpkg(in)
		checkParsed(t, in, pkgs)
	})
}

func FuzzParseAPK(f *testing.F) {
	f.Add([]byte("C:Q1=\nP:musl\nV:1.2.4-r4\nA:x86_64\no:musl\n\nP:b\nV:2\n"))
	f.Add([]byte("P:a\n\nV:1\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pkgs, _ := parseAPK(in)
		checkParsed(t, in, pkgs)
	})
}

func TestPURL(t *testing.T) {
	deb12 := OS{ID: "debian", VersionID: "12"}
	tests := []struct {
		name string
		pkg  Package
		os   OS
		want string
	}{
		{"deb with epoch", Package{Ecosystem: EcosystemDeb, Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", SourceName: "zlib"}, deb12,
			"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"},
		{"deb on ubuntu", Package{Ecosystem: EcosystemDeb, Name: "bash", Version: "5.1-6ubuntu1", SourceName: "bash"}, OS{ID: "ubuntu", VersionID: "22.04"},
			"pkg:deb/ubuntu/bash@5.1-6ubuntu1?distro=ubuntu-22.04"},
		{"deb without os-release", Package{Ecosystem: EcosystemDeb, Name: "bash", Version: "5.1"}, OS{}, "pkg:deb/debian/bash@5.1"},
		{"apk without os-release", Package{Ecosystem: EcosystemAPK, Name: "musl", Version: "1.2.4-r0"}, OS{}, "pkg:apk/alpine/musl@1.2.4-r0"},
		{"go module", Package{Ecosystem: EcosystemGo, Name: "golang.org/x/text", Version: "v0.3.7"}, deb12, "pkg:golang/golang.org/x/text@v0.3.7"},
		{"go stdlib", Package{Ecosystem: EcosystemGo, Name: "stdlib", Version: "v1.22.3"}, deb12, "pkg:golang/stdlib@v1.22.3"},
		{"go pseudo-version with +incompatible", Package{Ecosystem: EcosystemGo, Name: "github.com/a/b", Version: "v2.0.0+incompatible"}, OS{},
			"pkg:golang/github.com/a/b@v2.0.0%2Bincompatible"},
		{"npm scoped", Package{Ecosystem: EcosystemNPM, Name: "@types/node", Version: "20.1.0"}, OS{}, "pkg:npm/%40types/node@20.1.0"},
		{"pypi normalised", Package{Ecosystem: EcosystemPyPI, Name: "Zope_Interface..x", Version: "6.0"}, OS{}, "pkg:pypi/zope-interface-x@6.0"},
		{"maven", Package{Ecosystem: EcosystemMaven, Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1"}, OS{},
			"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
		{"hostile characters are escaped", Package{Ecosystem: EcosystemNPM, Name: "a b?c#d", Version: "1@2/3"}, OS{}, "pkg:npm/a%20b%3Fc%23d@1%402%2F3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := purl(tt.pkg, tt.os); got != tt.want {
				t.Errorf("purl = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGoVersionToSemver(t *testing.T) {
	tests := map[string]string{
		"go1.22.3":                "v1.22.3",
		"go1.21":                  "v1.21.0",
		"go1.21rc2":               "v1.21.0-rc.2",
		"go1.18beta1":             "v1.18.0-beta.1",
		"go1.21.0 X:boringcrypto": "v1.21.0",
		"devel go1.23-abcdef Tue": "",
		"":                        "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := goVersionToSemver(in); got != want {
				t.Errorf("goVersionToSemver(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	got := parseOSRelease([]byte("# comment\nID=ubuntu\nID_LIKE=\"debian other\"\nVERSION_ID='22.04'\nNAME=\"Ubuntu \\\"Jammy\\\"\"\nbroken line\n"))
	if got.ID != "ubuntu" || got.VersionID != "22.04" || got.Name != `Ubuntu "Jammy"` || len(got.IDLike) != 2 || got.IDLike[1] != "other" {
		t.Fatalf("parseOSRelease = %+v", got)
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]kind{
		"etc/os-release":                      kindOSRelease,
		"var/lib/dpkg/status":                 kindDpkgStatus,
		"var/lib/dpkg/status-old":             kindNone,
		"var/lib/dpkg/status.d/libc6":         kindDpkgStatus,
		"var/lib/dpkg/status.d/libc6.md5sums": kindNone,
		"var/lib/dpkg/status.d/sub/x":         kindNone,
		"lib/apk/db/installed":                kindAPKInstalled,
		"var/lib/rpm/Packages":                kindRPMDatabase,
		"x/node_modules/package.json":         kindNone,
		"x/my_node_modules/a/package.json":    kindNone,
		"node_modules/a/package.json":         kindNPMPackage,
		"x/node_modules/@s/a/package.json":    kindNPMPackage,
		"x/node_modules/@s/a/b/package.json":  kindNone,
		"a.dist-info/METADATA":                kindPythonMetadata,
		"lib/site-packages/foo-1.0.egg-info":  kindPythonMetadata,
		"opt/App.JAR":                         kindArchive,
		"srv/app.war":                         kindArchive,
	}
	for p, want := range tests {
		t.Run(p, func(t *testing.T) {
			if got := classify(p); got != want {
				t.Errorf("classify(%q) = %d, want %d", p, got, want)
			}
		})
	}
}
