package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Sources are the vulnerability database sources a server scans with: the
// configured ones (scan.db) and the files (OSV zips, Trivy databases)
// imported through the API, kept in
// a directory so that they survive a restart. An imported zip is named; a
// new import under the same name replaces it (a newer Debian-all.zip).
type Sources struct {
	configured []string
	dir        string
	// fetch resolves a configured source that is not a local path
	// (oci://REF); nil leaves every source as it is.
	fetch func(ctx context.Context, src string) ([]string, error)
	mu    sync.Mutex // serialises imports
}

// NewSources returns the sources of a server: configured, plus the zips
// under dir (created if missing).
func NewSources(configured []string, dir string) (*Sources, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return &Sources{configured: configured, dir: dir}, nil
}

// SetFetch sets how configured sources that are not paths are fetched.
func (s *Sources) SetFetch(f func(ctx context.Context, src string) ([]string, error)) { s.fetch = f }

// Dir is where imported zips are kept.
func (s *Sources) Dir() string { return s.dir }

// Paths lists the local paths to import: the configured sources (fetched
// when they name an artifact) then the imported zips by name.
func (s *Sources) Paths(ctx context.Context) ([]string, error) {
	var out []string
	for _, c := range s.configured {
		if s.fetch != nil && strings.Contains(c, "://") {
			ps, err := s.fetch(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("fetching %s: %w", c, err)
			}
			out = append(out, ps...)
			continue
		}
		out = append(out, c)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var imported []string
	for _, e := range entries {
		if e.Type().IsRegular() && validImportName.MatchString(e.Name()) {
			imported = append(imported, filepath.Join(s.dir, e.Name()))
		}
	}
	slices.Sort(imported)
	return append(out, imported...), nil
}

// validImportName is a file name without directories: an OSV zip, a
// Trivy database or the Trivy database layer.
var validImportName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(zip|db|tar\.gz)$`)

// ErrImportName means an import's name is not a plain file name of a kind
// the import reads.
var ErrImportName = errors.New("an import is named like Debian-all.zip, trivy.db or trivy-db.tar.gz: letters, digits, '.', '_', '-', ending in .zip, .db or .tar.gz")

// Import stores the zip read from r (at most max bytes) as name, then calls
// apply, which loads the database with it and swaps it in. If apply fails,
// the previous zip of that name (or none) is put back, so a bad import
// leaves the server's sources as they were.
func (s *Sources) Import(ctx context.Context, name string, r io.Reader, max int64, apply func(context.Context) error) error {
	return s.ImportAll(ctx, []Upload{{Name: name, Body: r}}, max, apply)
}

// Upload is one file of an import.
type Upload struct {
	Name string
	Body io.Reader
}

// ImportAll is Import of several files with one apply (the layers of an
// artifact): all of them are in place when apply runs, and all are rolled
// back if it fails.
func (s *Sources) ImportAll(ctx context.Context, files []Upload, max int64, apply func(context.Context) error) error {
	for _, f := range files {
		if !validImportName.MatchString(f.Name) {
			return fmt.Errorf("%q: %w", f.Name, ErrImportName)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var placed []placedFile
	rollback := func() {
		for i := len(placed) - 1; i >= 0; i-- {
			os.Remove(placed[i].final)
			if placed[i].hadOld {
				os.Rename(placed[i].backup, placed[i].final)
			}
		}
	}
	for _, f := range files {
		p, err := s.place(f, max)
		if err != nil {
			rollback()
			return err
		}
		placed = append(placed, p)
	}
	if err := apply(ctx); err != nil {
		rollback()
		return err
	}
	for _, p := range placed {
		os.Remove(p.backup)
	}
	return nil
}

type placedFile struct {
	final, backup string
	hadOld        bool
}

// place writes one upload to a temporary file and renames it over its
// name, keeping the earlier file of that name aside.
func (s *Sources) place(f Upload, max int64) (placedFile, error) {
	tmp, err := os.CreateTemp(s.dir, ".import-*")
	if err != nil {
		return placedFile{}, fmt.Errorf("storing import: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(f.Body, max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return placedFile{}, fmt.Errorf("storing import: %w", err)
	}
	if n > max {
		return placedFile{}, fmt.Errorf("import over %d bytes: %w", max, vulndb.ErrLimit)
	}
	p := placedFile{final: filepath.Join(s.dir, f.Name), backup: filepath.Join(s.dir, ".previous-"+f.Name)}
	p.hadOld = os.Rename(p.final, p.backup) == nil
	if err := os.Rename(tmp.Name(), p.final); err != nil {
		if p.hadOld {
			os.Rename(p.backup, p.final)
		}
		return placedFile{}, fmt.Errorf("storing import: %w", err)
	}
	return p, nil
}
