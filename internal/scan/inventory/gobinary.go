package inventory

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"
)

// minExecutableSize skips scripts and stubs: no Go binary is this small.
const minExecutableSize = 1024

// binaryMagics are the executable formats debug/buildinfo reads that occur
// in container images: ELF, PE and 64-bit Mach-O.
var binaryMagics = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{'M', 'Z'},
	{0xcf, 0xfa, 0xed, 0xfe},
}

// executable reads the Go build information of an executable file. Files
// that are not executables of a known format are skipped after four bytes;
// executables that are not Go are skipped after debug/buildinfo looked.
func (w *walker) executable(_ context.Context, idx int, name string, size int64, r io.Reader) error {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	known := false
	for _, m := range binaryMagics {
		known = known || bytes.HasPrefix(magic[:], m)
	}
	if !known {
		return nil
	}
	if size > w.lim.MaxBinarySize {
		w.records[name] = &record{layer: idx, reasons: []string{
			fmt.Sprintf("%s: executable of %d bytes exceeds the %d-byte cap, not inspected", name, size, w.lim.MaxBinarySize)}}
		return nil
	}
	ra, release, err := w.spool.spool(io.MultiReader(bytes.NewReader(magic[:]), r), size, true)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer release()
	bi, err := buildinfo.Read(ra)
	if err != nil {
		return nil // not a Go binary, or one without build information
	}
	pkgs := goPackages(bi)
	for i := range pkgs {
		pkgs[i].Path = name
	}
	w.records[name] = &record{layer: idx, pkgs: pkgs}
	return nil
}

// goPackages lists the main module, each dependency as compiled (after
// replace directives) and the toolchain as the "stdlib" package, which is
// how the Go vulnerability database names the standard library.
func goPackages(bi *debug.BuildInfo) []Package {
	var pkgs []Package
	add := func(m *debug.Module) {
		if m == nil {
			return
		}
		// A replacement by another module is what was compiled; one by a
		// local directory has no version of its own, so the original
		// requirement is the best name for it.
		if m.Replace != nil && m.Replace.Version != "" && m.Replace.Version != "(devel)" {
			m = m.Replace
		}
		if m.Path == "" || m.Path == "command-line-arguments" {
			return
		}
		v := m.Version
		if v == "(devel)" {
			v = ""
		}
		pkgs = append(pkgs, Package{Name: m.Path, Version: v, Ecosystem: EcosystemGo})
	}
	add(&bi.Main)
	for _, d := range bi.Deps {
		add(d)
	}
	if v := goVersionToSemver(bi.GoVersion); v != "" {
		pkgs = append(pkgs, Package{Name: goStdlibPackage, Version: v, Ecosystem: EcosystemGo})
	}
	return pkgs
}

var goTag = regexp.MustCompile(`^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta)(\d+))?$`)

// goVersionToSemver turns a toolchain version ("go1.22.3", "go1.21rc2",
// "go1.21.0 X:boringcrypto") into the semver form module versions use
// ("v1.22.3", "v1.21.0-rc.2"), so one comparison serves all Go packages.
// Development toolchains have no release to match and yield "".
func goVersionToSemver(v string) string {
	v, _, _ = strings.Cut(v, " ")
	m := goTag.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	minor, patch := m[2], m[3]
	if minor == "" {
		minor = "0"
	}
	if patch == "" {
		patch = "0"
	}
	s := "v" + m[1] + "." + minor + "." + patch
	if m[4] != "" {
		s += "-" + m[4] + "." + m[5]
	}
	return s
}
