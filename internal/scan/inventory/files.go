package inventory

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// kind is what an interesting file is, decided from its path alone.
type kind int

const (
	kindNone kind = iota
	kindOSRelease
	kindDpkgStatus
	kindAPKInstalled
	kindRPMDatabase
	kindPythonMetadata
	kindNPMPackage
	kindArchive
)

// rpmDatabases are the files of the three rpm database formats (Berkeley DB,
// ndb, sqlite) in both places distributions keep them.
var rpmDatabases = map[string]bool{
	"var/lib/rpm/Packages":              true,
	"var/lib/rpm/Packages.db":           true,
	"var/lib/rpm/rpmdb.sqlite":          true,
	"usr/lib/sysimage/rpm/Packages":     true,
	"usr/lib/sysimage/rpm/Packages.db":  true,
	"usr/lib/sysimage/rpm/rpmdb.sqlite": true,
}

func classify(p string) kind {
	switch p {
	case "etc/os-release", "usr/lib/os-release":
		return kindOSRelease
	case "var/lib/dpkg/status":
		return kindDpkgStatus
	case "lib/apk/db/installed":
		return kindAPKInstalled
	}
	if rpmDatabases[p] {
		return kindRPMDatabase
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "var/lib/dpkg/status.d" && !strings.Contains(base, "."):
		// Distroless keeps one status paragraph per package here, next to
		// "<pkg>.md5sums" files that are not status files.
		return kindDpkgStatus
	case base == "METADATA" && strings.HasSuffix(dir, ".dist-info"),
		base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info"),
		strings.HasSuffix(base, ".egg-info") && strings.Contains(dir, "-packages"):
		return kindPythonMetadata
	case base == "package.json" && isNodeModule(dir):
		return kindNPMPackage
	case isArchiveName(base):
		return kindArchive
	}
	return kindNone
}

// isNodeModule reports whether dir is a package directory directly inside
// node_modules ("node_modules/x" or "node_modules/@scope/x"), so that the
// package.json files of tests and fixtures deeper inside are not taken for
// installed packages.
func isNodeModule(dir string) bool {
	i := strings.LastIndex(dir, "node_modules/")
	if i < 0 || (i > 0 && dir[i-1] != '/') {
		return false
	}
	rest := strings.Split(dir[i+len("node_modules/"):], "/")
	switch {
	case len(rest) == 1:
		return rest[0] != "" && !strings.HasPrefix(rest[0], ".")
	case len(rest) == 2:
		return strings.HasPrefix(rest[0], "@") && rest[1] != ""
	}
	return false
}

func isArchiveName(base string) bool {
	b := strings.ToLower(base)
	return strings.HasSuffix(b, ".jar") || strings.HasSuffix(b, ".war") || strings.HasSuffix(b, ".ear")
}

// regular reads a regular file if its path or content says it can hold
// packages. Errors returned are errors of the stream; problems of the file
// itself become reasons on its record.
func (w *walker) regular(ctx context.Context, idx int, name string, hdr *tar.Header, r io.Reader) error {
	k := classify(name)
	switch k {
	case kindNone:
		if hdr.Mode&0o111 == 0 || hdr.Size < minExecutableSize {
			return nil
		}
		return w.executable(ctx, idx, name, hdr.Size, r)
	case kindArchive:
		return w.archive(ctx, idx, name, hdr.Size, r)
	}

	if hdr.Size > w.lim.MaxFileSize {
		w.records[name] = &record{layer: idx, reasons: []string{
			fmt.Sprintf("%s: %d bytes exceeds the %d-byte cap for package files", name, hdr.Size, w.lim.MaxFileSize)}}
		return nil
	}
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	rec := &record{layer: idx}
	var err error
	switch k {
	case kindOSRelease:
		o := parseOSRelease(data)
		rec.os = &o
	case kindDpkgStatus:
		rec.pkgs, err = parseDpkg(data)
	case kindAPKInstalled:
		rec.pkgs, err = parseAPK(data)
	case kindPythonMetadata:
		rec.pkgs, err = parsePythonMetadata(data)
	case kindNPMPackage:
		rec.pkgs, err = parseNPMPackage(data)
	case kindRPMDatabase:
		rec.pkgs, err = parseRPMDB(ctx, data, w.spool.file)
	}
	if err != nil {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: cannot parse: %v", name, err))
	}
	for i := range rec.pkgs {
		rec.pkgs[i].Path = name
	}
	w.records[name] = rec
	return nil
}
