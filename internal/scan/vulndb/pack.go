package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// PackZip writes the *.json files of the given sources (directories of OSV
// JSON or zips of them, as AddPath takes) into one zip, the form a server
// imports, berth vulndb push publishes and osv.dev distributes. Members are
// stored as "<n>/<name in source n>" so that equal names in two sources do
// not collide; the import picks the newest entry of an id whatever its
// member name. The same caps as an import apply; an entry over MaxEntrySize
// is left out, as an import would skip it. It returns the members written.
func PackZip(ctx context.Context, w io.Writer, paths []string, lim Limits) (int, error) {
	lim = lim.withDefaults()
	zw := zip.NewWriter(w)
	p := &packer{ctx: ctx, zw: zw, lim: lim}
	for i, src := range paths {
		if err := p.add(i, src); err != nil {
			return p.count, fmt.Errorf("packing %s: %w", src, err)
		}
	}
	if err := zw.Close(); err != nil {
		return p.count, fmt.Errorf("writing zip: %w", err)
	}
	return p.count, nil
}

type packer struct {
	ctx   context.Context
	zw    *zip.Writer
	lim   Limits
	count int
	total int64
}

func (p *packer) add(i int, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return p.addZip(i, src)
	}
	return filepath.WalkDir(src, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.EqualFold(filepath.Ext(name), ".json") {
			return nil
		}
		rel, err := filepath.Rel(src, name)
		if err != nil {
			return err
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		return p.write(i, filepath.ToSlash(rel), f)
	})
}

func (p *packer) addZip(i int, src string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.EqualFold(path.Ext(zf.Name), ".json") {
			continue
		}
		if zf.UncompressedSize64 > uint64(p.lim.MaxEntrySize) {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		err = p.write(i, zf.Name, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// write copies one entry, bounded by the entry and total caps.
func (p *packer) write(i int, name string, r io.Reader) error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	data, err := readAllBounded(r, p.lim.MaxEntrySize)
	if err != nil {
		if errors.Is(err, ErrLimit) {
			return nil
		}
		return err
	}
	if p.count++; p.count > p.lim.MaxEntries {
		return fmt.Errorf("more than %d entries: %w", p.lim.MaxEntries, ErrLimit)
	}
	if p.total += int64(len(data)); p.total > p.lim.MaxTotalBytes {
		return fmt.Errorf("more than %d bytes: %w", p.lim.MaxTotalBytes, ErrLimit)
	}
	mw, err := p.zw.Create(fmt.Sprintf("%d/%s", i, strings.TrimLeft(name, "/")))
	if err != nil {
		return err
	}
	_, err = mw.Write(data)
	return err
}
