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
	if !validImportName.MatchString(name) {
		return fmt.Errorf("%q: %w", name, ErrImportName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp, err := os.CreateTemp(s.dir, ".import-*")
	if err != nil {
		return fmt.Errorf("storing import: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(r, max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storing import: %w", err)
	}
	if n > max {
		return fmt.Errorf("import over %d bytes: %w", max, vulndb.ErrLimit)
	}
	final := filepath.Join(s.dir, name)
	backup := filepath.Join(s.dir, ".previous-"+name)
	hadOld := os.Rename(final, backup) == nil
	if err := os.Rename(tmp.Name(), final); err != nil {
		if hadOld {
			os.Rename(backup, final)
		}
		return fmt.Errorf("storing import: %w", err)
	}
	if err := apply(ctx); err != nil {
		os.Remove(final)
		if hadOld {
			os.Rename(backup, final)
		}
		return err
	}
	os.Remove(backup)
	return nil
}
