package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// AddPath imports a directory of OSV JSON files (searched recursively), an
// osv.dev-style zip of them, a Trivy database (trivy.db) or the Trivy
// database layer (a tar.gz holding trivy.db), chosen by what path is. The
// source is named by path.
func (b *Builder) AddPath(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("importing %s: %w", path, err)
	}
	if fi.IsDir() {
		return b.AddDir(ctx, path)
	}
	switch sniff(path) {
	case kindBolt:
		return b.AddTrivyDB(ctx, path)
	case kindGzip:
		return b.AddTrivyArchive(ctx, path)
	}
	return b.AddZip(ctx, path)
}

// AddDir imports every regular *.json file under dir. Symbolic links are not
// followed. It fails only on an I/O error or a cancelled ctx; bad entries
// are counted and skipped.
func (b *Builder) AddDir(ctx context.Context, dir string) error {
	si := b.source(dir)
	var count int
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.EqualFold(filepath.Ext(p), ".json") {
			return nil
		}
		if count++; count > b.lim.MaxEntries {
			return fmt.Errorf("more than %d files: %w", b.lim.MaxEntries, ErrLimit)
		}
		data, err := readBounded(p, b.lim.MaxEntrySize)
		if err != nil {
			if errors.Is(err, ErrLimit) {
				b.sources[si].Invalid++
				b.problem("%s: %v", p, err)
				return nil
			}
			return err
		}
		if total += int64(len(data)); total > b.lim.MaxTotalBytes {
			return fmt.Errorf("more than %d bytes: %w", b.lim.MaxTotalBytes, ErrLimit)
		}
		b.Add(dir, p, data)
		return nil
	})
	if err != nil {
		return fmt.Errorf("importing directory %s: %w", dir, err)
	}
	return nil
}

// ErrLimit is wrapped by errors for a cap of Limits that stopped an import
// (entry count or total bytes). An entry over MaxEntrySize is only skipped.
var ErrLimit = errors.New("vulndb import limit reached")

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllBounded(f, max)
}

// readAllBounded reads r to its end, failing with ErrLimit past max bytes
// rather than trusting any size the container declared.
func readAllBounded(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("over the %d-byte entry cap: %w", max, ErrLimit)
	}
	return data, nil
}

// AddZip imports the *.json members of the zip file at path (an osv.dev
// "all.zip"). The source is named by path.
func (b *Builder) AddZip(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("importing zip %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("importing zip %s: %w", path, err)
	}
	return b.AddZipReader(ctx, path, f, fi.Size())
}

// AddZipReader imports the *.json members of a zip archive read from r.
// Member sizes declared by the archive are checked first and then enforced
// while decompressing, so a zip bomb costs at most MaxEntrySize per member
// and MaxTotalBytes in all.
func (b *Builder) AddZipReader(ctx context.Context, source string, r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("importing zip %s: %w", source, err)
	}
	si := b.source(source)
	if len(zr.File) > b.lim.MaxEntries {
		return fmt.Errorf("importing zip %s: %d members, more than %d: %w", source, len(zr.File), b.lim.MaxEntries, ErrLimit)
	}
	var total int64
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("importing zip %s: %w", source, err)
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
			continue
		}
		where := source + "!/" + zf.Name
		if zf.UncompressedSize64 > uint64(b.lim.MaxEntrySize) {
			b.sources[si].Invalid++
			b.problem("%s: declares %d bytes, over the %d-byte entry cap", where, zf.UncompressedSize64, b.lim.MaxEntrySize)
			continue
		}
		data, err := readMember(zf, b.lim.MaxEntrySize)
		if err != nil {
			// A corrupt member or one that lied about its size is
			// skipped like any other bad entry.
			b.sources[si].Invalid++
			b.problem("%s: %v", where, err)
			continue
		}
		if total += int64(len(data)); total > b.lim.MaxTotalBytes {
			return fmt.Errorf("importing zip %s: more than %d bytes: %w", source, b.lim.MaxTotalBytes, ErrLimit)
		}
		b.Add(source, where, data)
	}
	return nil
}

func readMember(zf *zip.File, max int64) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readAllBounded(rc, max)
}
