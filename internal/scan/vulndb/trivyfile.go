package vulndb

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/klauspost/compress/gzip"
)

type fileKind int

const (
	kindOther fileKind = iota
	kindBolt
	kindGzip
)

// boltMagic is bbolt's meta page magic, after the 16-byte page header.
const boltMagic = 0xED0CDAED

// sniff tells a bbolt file and a gzip stream from anything else (a zip).
func sniff(p string) fileKind {
	f, err := os.Open(p)
	if err != nil {
		return kindOther
	}
	defer f.Close()
	var head [20]byte
	n, _ := io.ReadFull(f, head[:])
	switch {
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return kindGzip
	case n == 20 && binary.LittleEndian.Uint32(head[16:]) == boltMagic:
		return kindBolt
	}
	return kindOther
}

// AddTrivyArchive imports the trivy.db inside a Trivy database layer
// (application/vnd.aquasec.trivy.db.layer.v1.tar+gzip, as pulled from
// ghcr.io/aquasecurity/trivy-db:2). bbolt needs a file, so trivy.db is
// copied, within MaxTotalBytes, to a temporary file that is removed after.
func (b *Builder) AddTrivyArchive(ctx context.Context, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("importing %s: %w", p, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("importing %s: %w", p, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("importing %s: no trivy.db in the archive", p)
		}
		if err != nil {
			return fmt.Errorf("importing %s: %w", p, err)
		}
		if hdr.Typeflag != tar.TypeReg || path.Base(hdr.Name) != "trivy.db" {
			continue
		}
		if hdr.Size > b.lim.MaxTotalBytes {
			return fmt.Errorf("importing %s: trivy.db of %d bytes: %w", p, hdr.Size, ErrLimit)
		}
		tmp, err := os.CreateTemp("", "berth-trivy-*.db")
		if err != nil {
			return fmt.Errorf("importing %s: %w", p, err)
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, io.LimitReader(tr, hdr.Size))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("importing %s: %w", p, err)
		}
		var head [20]byte
		if fh, err := os.Open(tmp.Name()); err == nil {
			io.ReadFull(fh, head[:])
			fh.Close()
		}
		if !bytes.Equal(head[16:20], binary.LittleEndian.AppendUint32(nil, boltMagic)) {
			return fmt.Errorf("importing %s: trivy.db is not a bbolt file", p)
		}
		// The source keeps the archive's name, not the temporary file's.
		return b.addTrivyDBAs(ctx, tmp.Name(), p)
	}
}
