package inventory

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// errStop ends the walk early: a cap on the whole image was reached and its
// reason recorded.
var errStop = errors.New("inventory cap reached")

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// record is what one path of the merged filesystem contributes.
type record struct {
	layer   int
	os      *OS
	pkgs    []Package
	reasons []string
}

// walker holds the state of one Read: the merged records and the counters
// behind the caps.
type walker struct {
	lim     Limits
	spool   *spooler
	records map[string]*record
	reasons []string // about the image as a whole, not one path
	bytes   int64
	entries int
	capped  bool // the byte cap was hit; the reason is already recorded
}

func newWalker(lim Limits, scratch string) *walker {
	return &walker{lim: lim, spool: &spooler{dir: scratch, memMax: memSpoolMax}, records: map[string]*record{}}
}

func (w *walker) notef(format string, args ...any) {
	w.reasons = append(w.reasons, fmt.Sprintf(format, args...))
}

// layer walks the tar stream of one layer. It returns errStop when a cap on
// the whole image was reached, another error only when the caller cancelled
// or the layer could not be opened; anything wrong with the content itself is
// recorded as a reason and the next layer is read.
func (w *walker) layer(ctx context.Context, idx int, l Layer) error {
	if err := w.checkCtx(ctx); err != nil {
		return err
	}
	if strings.Contains(l.MediaType(), "encrypted") {
		w.notef("layer %s: encrypted layers are not read", l.Digest())
		return nil
	}
	rc, err := l.Open(ctx)
	if err != nil {
		if cerr := w.checkCtx(ctx); cerr != nil {
			return cerr
		}
		return fmt.Errorf("opening layer %s: %w", l.Digest(), err)
	}
	defer rc.Close()

	dec, err := decompress(rc)
	if err != nil {
		w.notef("layer %s: %v", l.Digest(), err)
		return nil
	}
	defer dec.Close()

	tr := tar.NewReader(&countingReader{r: dec, ctx: ctx, w: w})
	unsafe := 0
	defer func() {
		if unsafe > 0 {
			w.notef("layer %s: %d entries with unsafe or overlong names skipped", l.Digest(), unsafe)
		}
	}()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return w.streamErr(ctx, l, err)
		}
		w.entries++
		if w.entries > w.lim.MaxEntries {
			w.notef("entry cap of %d reached in layer %s; later entries and layers not read", w.lim.MaxEntries, l.Digest())
			return errStop
		}
		name, ok := cleanPath(hdr.Name, w.lim.MaxPathLength)
		if !ok {
			unsafe++
			continue
		}
		if err := w.entry(ctx, idx, name, hdr, tr); err != nil {
			return w.streamErr(ctx, l, err)
		}
	}
}

// streamErr sorts an error met while reading a layer into "stop everything"
// (caps, deadline), "the caller gave up" (cancellation) and "this layer is
// broken" (recorded; the walk goes on).
func (w *walker) streamErr(ctx context.Context, l Layer, err error) error {
	if w.capped {
		return errStop
	}
	if cerr := w.checkCtx(ctx); cerr != nil {
		return cerr
	}
	w.notef("layer %s: reading: %v", l.Digest(), err)
	return nil
}

// checkCtx turns a deadline into a recorded reason and errStop, and returns
// a cancellation as is.
func (w *walker) checkCtx(ctx context.Context) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		w.notef("time limit reached; later entries and layers not read")
		return errStop
	default:
		return fmt.Errorf("reading image: %w", err)
	}
}

// entry applies one tar entry to the merged records.
func (w *walker) entry(ctx context.Context, idx int, name string, hdr *tar.Header, r io.Reader) error {
	dir, base := path.Split(name)
	if base == whiteoutOpaque {
		w.removeUnder(strings.TrimSuffix(dir, "/"), idx)
		return nil
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		target := dir + strings.TrimPrefix(base, whiteoutPrefix)
		w.remove(target, idx)
		w.removeUnder(target, idx)
		return nil
	}
	// Whatever this entry is, it replaces what lower layers had here.
	w.remove(name, idx)

	switch hdr.Typeflag {
	case tar.TypeReg:
		return w.regular(ctx, idx, name, hdr, r)
	case tar.TypeLink:
		w.hardlink(idx, name, hdr.Linkname)
	}
	// Directories, symlinks, devices and FIFOs carry nothing to read, and
	// links are never followed.
	return nil
}

// remove drops the record of a lower layer at exactly p.
func (w *walker) remove(p string, idx int) {
	if rec, ok := w.records[p]; ok && rec.layer < idx {
		delete(w.records, p)
	}
}

// removeUnder drops the records of lower layers below directory dir ("" is
// the root).
func (w *walker) removeUnder(dir string, idx int) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for p, rec := range w.records {
		if rec.layer < idx && strings.HasPrefix(p, prefix) {
			delete(w.records, p)
		}
	}
}

// hardlink gives name the record of the file it links to, when that file
// was read: the content is the same. The target is looked up by name in the
// records, never opened.
func (w *walker) hardlink(idx int, name, linkname string) {
	target, ok := cleanPath(linkname, w.lim.MaxPathLength)
	if !ok {
		return
	}
	src, ok := w.records[target]
	if !ok {
		return
	}
	rec := &record{layer: idx, os: src.os, reasons: src.reasons}
	for _, p := range src.pkgs {
		p.Path = strings.Replace(p.Path, target, name, 1)
		rec.pkgs = append(rec.pkgs, p)
	}
	w.records[name] = rec
}

// cleanPath turns a tar entry name into a path relative to the image root,
// or reports false for a name that would leave it ("../x", "a/../../x") or is
// too long. Absolute names are taken relative to the root, as runtimes do.
func cleanPath(name string, maxLen int) (string, bool) {
	if len(name) > maxLen || strings.ContainsRune(name, 0) {
		return "", false
	}
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

// countingReader enforces the byte cap and the deadline on a layer stream.
type countingReader struct {
	r   io.Reader
	ctx context.Context
	w   *walker
}

var errBytesCap = errors.New("uncompressed byte cap reached")

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if cerr := c.w.count(int64(n)); cerr != nil {
		return n, cerr
	}
	return n, err
}

// count adds n decompressed bytes to the image's total.
func (w *walker) count(n int64) error {
	w.bytes += n
	if w.bytes > w.lim.MaxUncompressedBytes {
		if !w.capped {
			w.capped = true
			w.notef("uncompressed size cap of %d bytes reached; later entries and layers not read", w.lim.MaxUncompressedBytes)
		}
		return errBytesCap
	}
	return nil
}

// decompress recognises gzip and zstd by their magic numbers rather than by
// media type, which clients get wrong; anything else is read as plain tar.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		// klauspost's gzip is the standard API with a decoder about twice
		// as fast, and decompression is most of an inventory's time.
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// The window cap bounds the decoder's memory whatever the frame
		// header claims.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("opening zstd stream: %w", err)
		}
		return zstdCloser{zr}, nil
	default:
		return io.NopCloser(br), nil
	}
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// sortedPaths returns the record paths in order so output is deterministic.
func (w *walker) sortedPaths() []string {
	ps := make([]string, 0, len(w.records))
	for p := range w.records {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
