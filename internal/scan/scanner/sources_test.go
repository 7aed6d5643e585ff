package scanner_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

func osvZip(t *testing.T, docs ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i, d := range docs {
		w, err := zw.Create(strings.Repeat("x", i+1) + ".json")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(d))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Imports are kept under their name, replace the zip of the same name, and
// are rolled back when the reload they trigger fails.
func TestSourcesImport(t *testing.T) {
	ctx := t.Context()
	configured := filepath.Join("..", "vulndb", "testdata", "go")
	src, err := scanner.NewSources([]string{configured}, filepath.Join(t.TempDir(), "vulndb"))
	if err != nil {
		t.Fatal(err)
	}
	load := func() (*vulndb.DB, error) {
		paths, err := src.Paths(ctx)
		if err != nil {
			return nil, err
		}
		return scanner.LoadDB(ctx, paths)
	}
	base, err := load()
	if err != nil {
		t.Fatal(err)
	}
	v1 := osvZip(t, `{"id":"DEB-1","modified":"2024-01-01T00:00:00Z"}`)
	v2 := osvZip(t, `{"id":"DEB-1","modified":"2024-02-01T00:00:00Z"}`, `{"id":"DEB-2","modified":"2024-02-01T00:00:00Z"}`)
	steps := []struct {
		name, file string
		body       []byte
		max        int64
		failApply  bool
		wantErr    error
		wantLen    int
	}{
		{"first import adds", "Debian-all.zip", v1, 1 << 20, false, nil, base.Len() + 1},
		{"same name replaces", "Debian-all.zip", v2, 1 << 20, false, nil, base.Len() + 2},
		{"failed reload puts the previous zip back", "Debian-all.zip", v1, 1 << 20, true, errors.New("boom"), base.Len() + 2},
		{"a name with a directory is refused", "../x.zip", v1, 1 << 20, false, scanner.ErrImportName, base.Len() + 2},
		{"a name that is not a database file is refused", "Debian.json", v1, 1 << 20, false, scanner.ErrImportName, base.Len() + 2},
		{"over the size cap", "Alpine-all.zip", v1, 10, false, vulndb.ErrLimit, base.Len() + 2},
	}
	for _, s := range steps {
		err := src.Import(ctx, s.file, bytes.NewReader(s.body), s.max, func(ctx2 context.Context) error {
			if s.failApply {
				return errors.New("boom")
			}
			_, err := load()
			return err
		})
		switch {
		case s.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.wantErr != nil && err == nil:
			t.Fatalf("%s: no error", s.name)
		case s.wantErr != nil && !s.failApply && !errors.Is(err, s.wantErr):
			t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
		}
		db, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if db.Len() != s.wantLen {
			t.Errorf("%s: %d advisories, want %d", s.name, db.Len(), s.wantLen)
		}
	}
	left, _ := os.ReadDir(src.Dir())
	if len(left) != 1 || left[0].Name() != "Debian-all.zip" {
		t.Errorf("import dir holds %v, want only Debian-all.zip", left)
	}
}
