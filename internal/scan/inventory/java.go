package inventory

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// archive reads the Maven coordinates of a jar, war or ear and of the
// archives nested in it, down to MaxNestingDepth.
func (w *walker) archive(ctx context.Context, idx int, name string, size int64, r io.Reader) error {
	if size > w.lim.MaxBinarySize {
		w.records[name] = &record{layer: idx, reasons: []string{
			fmt.Sprintf("%s: archive of %d bytes exceeds the %d-byte cap, not inspected", name, size, w.lim.MaxBinarySize)}}
		return nil
	}
	ra, release, err := w.spool.spool(r, size, true)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer release()
	rec := &record{layer: idx}
	w.readArchive(ctx, rec, ra, size, name, 1)
	w.records[name] = rec
	if w.capped {
		return errBytesCap
	}
	return nil
}

// readArchive adds to rec what the zip archive at archivePath holds; every
// problem becomes a reason on rec.
func (w *walker) readArchive(ctx context.Context, rec *record, ra io.ReaderAt, size int64, archivePath string, depth int) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: not a readable archive: %v", archivePath, err))
		return
	}
	w.entries += len(zr.File)
	if w.entries > w.lim.MaxEntries {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: entry cap of %d reached, archive not read", archivePath, w.lim.MaxEntries))
		return
	}
	for _, f := range zr.File {
		if ctx.Err() != nil || w.capped {
			rec.reasons = append(rec.reasons, archivePath+": read stopped by the time or size cap")
			return
		}
		member := archivePath + "!/" + f.Name
		switch {
		case isPomProperties(f.Name):
			data, err := w.readMember(f, w.lim.MaxFileSize)
			if err == nil {
				var p Package
				p, err = parsePomProperties(data)
				p.Path = archivePath
				if err == nil {
					rec.pkgs = append(rec.pkgs, p)
				}
			}
			if err != nil {
				rec.reasons = append(rec.reasons, fmt.Sprintf("%s: %v", member, err))
			}
		case isArchiveName(path.Base(f.Name)):
			if depth >= w.lim.MaxNestingDepth {
				rec.reasons = append(rec.reasons, fmt.Sprintf("%s: archive nested deeper than %d levels, not read", member, w.lim.MaxNestingDepth))
				continue
			}
			w.nestedArchive(ctx, rec, f, member, depth+1)
		}
	}
}

func (w *walker) nestedArchive(ctx context.Context, rec *record, f *zip.File, member string, depth int) {
	if f.UncompressedSize64 > uint64(w.lim.MaxBinarySize) {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: archive of %d bytes exceeds the %d-byte cap, not inspected", member, f.UncompressedSize64, w.lim.MaxBinarySize))
		return
	}
	rc, err := f.Open()
	if err != nil {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: %v", member, err))
		return
	}
	defer rc.Close()
	size := int64(f.UncompressedSize64)
	ra, release, err := w.spool.spool(&budgetReader{r: rc, w: w}, size, false)
	if err != nil {
		rec.reasons = append(rec.reasons, fmt.Sprintf("%s: %v", member, err))
		return
	}
	defer release()
	w.readArchive(ctx, rec, ra, size, member, depth)
}

// readMember reads one archive member of at most limit bytes, whatever its
// header claims.
func (w *walker) readMember(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes exceeds the %d-byte cap", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(&budgetReader{r: rc, w: w}, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than the %d-byte cap", limit)
	}
	return data, nil
}

// isPomProperties matches META-INF/maven/<group>/<artifact>/pom.properties.
func isPomProperties(name string) bool {
	parts := strings.Split(name, "/")
	return len(parts) == 5 && parts[0] == "META-INF" && parts[1] == "maven" && parts[4] == "pom.properties"
}

// budgetReader counts decompressed archive bytes against the image's cap, so
// a zip bomb inside a layer costs what a tar bomb would.
type budgetReader struct {
	r io.Reader
	w *walker
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if cerr := b.w.count(int64(n)); cerr != nil {
		return n, cerr
	}
	return n, err
}
