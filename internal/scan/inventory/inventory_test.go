package inventory

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestReadEcosystems(t *testing.T) {
	jar := zipBytes(t, map[string][]byte{
		"META-INF/MANIFEST.MF":                          []byte("Manifest-Version: 1.0\n"),
		"META-INF/maven/com.example/app/pom.properties": pomProps("com.example", "app", "1.0.0"),
		"BOOT-INF/lib/jackson-databind-2.15.2.jar": zipBytes(t, map[string][]byte{
			"META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties": pomProps("com.fasterxml.jackson.core", "jackson-databind", "2.15.2"),
		}),
	})
	tests := []struct {
		name    string
		entries []entry
		want    []Package // compared on Ecosystem, Name, Version, Source*, PURL, Path
		wantOS  OS
	}{
		{
			name: "dpkg status with Source lines",
			entries: []entry{
				file("etc/os-release", debianOSRelease),
				file("var/lib/dpkg/status", dpkgStatus),
			},
			wantOS: OS{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
			want: []Package{
				{Ecosystem: EcosystemDeb, Name: "bash", Version: "5.2.15-2+b2", SourceName: "bash", SourceVersion: "5.2.15-2", Arch: "amd64",
					PURL: "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12", Path: "var/lib/dpkg/status"},
				{Ecosystem: EcosystemDeb, Name: "libc6", Version: "2.36-9+deb12u4", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4", Arch: "amd64",
					PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc", Path: "var/lib/dpkg/status"},
				{Ecosystem: EcosystemDeb, Name: "libssl3", Version: "3.0.11-1~deb12u2+b1", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", Arch: "amd64",
					PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=amd64&distro=debian-12&upstream=openssl", Path: "var/lib/dpkg/status"},
				{Ecosystem: EcosystemDeb, Name: "tzdata", Version: "2024a-0+deb12u1", SourceName: "tzdata", SourceVersion: "2024a-0+deb12u1", Arch: "all",
					PURL: "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12", Path: "var/lib/dpkg/status"},
			},
		},
		{
			name: "distroless status.d and usr/lib/os-release fallback",
			entries: []entry{
				symlink("etc/os-release", "../usr/lib/os-release"),
				file("usr/lib/os-release", debianOSRelease),
				file("var/lib/dpkg/status.d/base-files", "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"),
				file("var/lib/dpkg/status.d/base-files.md5sums", "d41d8cd98f00b204e9800998ecf8427e  etc/debian_version\n"),
				file("var/lib/dpkg/status.d/libssl3", "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nSource: openssl\nArchitecture: amd64\n"),
			},
			wantOS: OS{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
			want: []Package{
				{Ecosystem: EcosystemDeb, Name: "base-files", Version: "12.4+deb12u5", SourceName: "base-files", SourceVersion: "12.4+deb12u5", Arch: "amd64",
					PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12", Path: "var/lib/dpkg/status.d/base-files"},
				{Ecosystem: EcosystemDeb, Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", Arch: "amd64",
					PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl", Path: "var/lib/dpkg/status.d/libssl3"},
			},
		},
		{
			name: "apk installed with origin",
			entries: []entry{
				file("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"),
				file("lib/apk/db/installed", "C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:383152\no:musl\nL:MIT\n\nC:Q1def=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\n\n"),
			},
			wantOS: OS{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux"},
			want: []Package{
				{Ecosystem: EcosystemAPK, Name: "libcrypto3", Version: "3.1.4-r5", SourceName: "openssl", SourceVersion: "3.1.4-r5", Arch: "x86_64",
					PURL: "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl", Path: "lib/apk/db/installed"},
				{Ecosystem: EcosystemAPK, Name: "musl", Version: "1.2.4_git20230717-r4", SourceName: "musl", SourceVersion: "1.2.4_git20230717-r4", Arch: "x86_64",
					PURL: "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1", Path: "lib/apk/db/installed"},
			},
		},
		{
			name: "python dist-info and egg-info",
			entries: []entry{
				file("usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA", "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nSummary: x\n\nName: not-this\n"),
				file("usr/local/lib/python3.11/site-packages/zope.interface-6.0.egg-info/PKG-INFO", "Metadata-Version: 1.1\nName: zope.interface\nVersion: 6.0\n"),
			},
			want: []Package{
				{Ecosystem: EcosystemPyPI, Name: "Jinja2", Version: "3.1.2", PURL: "pkg:pypi/jinja2@3.1.2", Path: "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA"},
				{Ecosystem: EcosystemPyPI, Name: "zope.interface", Version: "6.0", PURL: "pkg:pypi/zope-interface@6.0", Path: "usr/local/lib/python3.11/site-packages/zope.interface-6.0.egg-info/PKG-INFO"},
			},
		},
		{
			name: "npm packages, scoped and nested, fixtures ignored",
			entries: []entry{
				file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21"}`),
				file("app/node_modules/@babel/core/package.json", `{"name":"@babel/core","version":"7.23.0"}`),
				file("app/node_modules/a/node_modules/minimist/package.json", `{"name":"minimist","version":"0.0.8"}`),
				file("app/node_modules/lodash/test/fixtures/package.json", `{"name":"fixture","version":"0.0.0"}`),
				file("app/package.json", `{"name":"my-app","version":"1.0.0"}`),
			},
			want: []Package{
				{Ecosystem: EcosystemNPM, Name: "@babel/core", Version: "7.23.0", PURL: "pkg:npm/%40babel/core@7.23.0", Path: "app/node_modules/@babel/core/package.json"},
				{Ecosystem: EcosystemNPM, Name: "lodash", Version: "4.17.21", PURL: "pkg:npm/lodash@4.17.21", Path: "app/node_modules/lodash/package.json"},
				{Ecosystem: EcosystemNPM, Name: "minimist", Version: "0.0.8", PURL: "pkg:npm/minimist@0.0.8", Path: "app/node_modules/a/node_modules/minimist/package.json"},
			},
		},
		{
			name:    "jar with a nested jar",
			entries: []entry{binFile("opt/app/app.jar", jar)},
			want: []Package{
				{Ecosystem: EcosystemMaven, Name: "com.example:app", Version: "1.0.0", PURL: "pkg:maven/com.example/app@1.0.0", Path: "opt/app/app.jar"},
				{Ecosystem: EcosystemMaven, Name: "com.fasterxml.jackson.core:jackson-databind", Version: "2.15.2",
					PURL: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2", Path: "opt/app/app.jar!/BOOT-INF/lib/jackson-databind-2.15.2.jar"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := gzLayer(t, tt.entries...)
			inv := mustRead(t, Options{}, l)
			if inv.Status != StatusComplete {
				t.Fatalf("status %s, reasons %q", inv.Status, inv.Reasons)
			}
			if !reflect.DeepEqual(inv.OS, tt.wantOS) {
				t.Errorf("OS = %+v, want %+v", inv.OS, tt.wantOS)
			}
			if len(inv.Packages) != len(tt.want) {
				t.Fatalf("got %d packages %+v, want %d", len(inv.Packages), inv.Packages, len(tt.want))
			}
			for i, want := range tt.want {
				got := inv.Packages[i]
				if got.Layer != l.Digest() {
					t.Errorf("package %s: layer %s, want %s", got.Name, got.Layer, l.Digest())
				}
				got.Layer = ""
				if got != want {
					t.Errorf("package %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

func TestReadCompressions(t *testing.T) {
	raw := tarBytes(t, file("var/lib/dpkg/status", dpkgStatus))
	tests := []struct {
		name  string
		layer *memLayer
	}{
		{"plain tar", &memLayer{mediaType: "application/vnd.oci.image.layer.v1.tar", blob: raw}},
		{"gzip", &memLayer{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", blob: gzipBytes(t, raw)}},
		{"zstd", &memLayer{mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", blob: zstdBytes(t, raw)}},
		// Media types lie; the content decides.
		{"gzip labelled zstd", &memLayer{mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", blob: gzipBytes(t, raw)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := mustRead(t, Options{}, tt.layer)
			if inv.Status != StatusComplete || len(inv.Packages) != 4 {
				t.Fatalf("status %s, %d packages, reasons %q; want complete with 4", inv.Status, len(inv.Packages), inv.Reasons)
			}
		})
	}
}

// buildTinyGo builds a Go program that depends on a module (replaced by a
// local directory so no network is needed) and returns the binary.
func buildTinyGo(t *testing.T) []byte {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	root := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dep/go.mod", "module example.com/dep\n\ngo 1.21\n")
	write("dep/dep.go", "package dep\n\nfunc Hello() string { return \"hi\" }\n")
	write("app/go.mod", "module example.com/tiny\n\ngo 1.21\n\nrequire example.com/dep v1.2.3\n\nreplace example.com/dep => ../dep\n")
	write("app/main.go", "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Hello()) }\n")
	cmd := exec.Command(gobin, "build", "-buildvcs=false", "-trimpath", "-o", filepath.Join(root, "tiny"), ".")
	cmd.Dir = filepath.Join(root, "app")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(root, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestReadGoBinary(t *testing.T) {
	bin := buildTinyGo(t)
	std := goVersionToSemver(runtime.Version())
	goPkgs := []Package{
		{Ecosystem: EcosystemGo, Name: "example.com/dep", Version: "v1.2.3", PURL: "pkg:golang/example.com/dep@v1.2.3", Path: "usr/local/bin/app"},
		{Ecosystem: EcosystemGo, Name: "example.com/tiny", PURL: "pkg:golang/example.com/tiny", Path: "usr/local/bin/app"},
		{Ecosystem: EcosystemGo, Name: "stdlib", Version: std, PURL: "pkg:golang/stdlib@" + std, Path: "usr/local/bin/app"},
	}
	tests := []struct {
		name    string
		entries []entry
		want    []Package
	}{
		{name: "executable Go binary", entries: []entry{exe("usr/local/bin/app", bin)}, want: goPkgs},
		{name: "not executable", entries: []entry{binFile("usr/local/bin/app", bin)}},
		{name: "executable script", entries: []entry{exe("usr/local/bin/app", []byte("#!/bin/sh\n"+strings.Repeat("echo hi\n", 200)))}},
		{name: "truncated ELF", entries: []entry{exe("usr/local/bin/app", bin[:4096])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := mustRead(t, Options{}, gzLayer(t, tt.entries...))
			if inv.Status != StatusComplete {
				t.Fatalf("status %s: %q", inv.Status, inv.Reasons)
			}
			if len(inv.Packages) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", inv.Packages, tt.want)
			}
			for i, want := range tt.want {
				got := inv.Packages[i]
				got.Layer = ""
				if got != want {
					t.Errorf("package %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

func TestSpoolLargeFileUsesScratchAndCleansUp(t *testing.T) {
	scratch := t.TempDir()
	s := &spooler{dir: scratch, memMax: 10}
	ra, release, err := s.spool(strings.NewReader(strings.Repeat("x", 100)), 100, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ra.(*os.File); !ok {
		t.Fatalf("spool of 100 bytes with memMax 10 returned %T, want a scratch file", ra)
	}
	got := make([]byte, 3)
	if _, err := ra.ReadAt(got, 97); err != nil || string(got) != "xxx" {
		t.Fatalf("ReadAt = %q, %v", got, err)
	}
	release()
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Fatalf("scratch dir not empty after release: %v", left)
	}
	if _, _, err := s.spool(strings.NewReader("short"), 100, true); err == nil {
		t.Fatal("spool of a short stream succeeded")
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Fatalf("scratch dir not empty after a failed spool: %v", left)
	}
}
