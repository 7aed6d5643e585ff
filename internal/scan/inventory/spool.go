package inventory

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// memSpoolMax is the size up to which a file is held in memory to be read at
// random; larger ones go to a file in the scratch directory.
const memSpoolMax = 16 << 20

// spooler turns a stream into an io.ReaderAt, which debug/buildinfo and
// archive/zip need, without holding large files in memory.
type spooler struct {
	dir    string
	memMax int64  // memSpoolMax outside tests
	buf    []byte // reused for top-level files; archives nested in them allocate
}

// spool reads exactly size bytes of r. The returned release must be called
// when the ReaderAt is no longer used. With reuse, the returned bytes are
// only valid until the next reuse.
func (s *spooler) spool(r io.Reader, size int64, reuse bool) (io.ReaderAt, func(), error) {
	if size <= s.memMax {
		var b []byte
		if reuse {
			if int64(cap(s.buf)) < size {
				s.buf = make([]byte, size)
			}
			b = s.buf[:size]
		} else {
			b = make([]byte, size)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("buffering %d bytes: %w", size, err)
		}
		return bytes.NewReader(b), func() {}, nil
	}
	// The scratch file is named by CreateTemp, never after the entry, so no
	// name in a layer can place it anywhere else.
	f, err := os.CreateTemp(s.dir, "spool-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating scratch file: %w", err)
	}
	release := func() {
		f.Close()
		os.Remove(f.Name())
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("spooling %d bytes: %w", size, err)
	}
	return f, release, nil
}

// file writes data to a new file in the scratch directory for a reader that
// needs a path (sqlite). The returned release removes it.
func (s *spooler) file(data []byte) (string, func(), error) {
	f, err := os.CreateTemp(s.dir, "spool-")
	if err != nil {
		return "", nil, fmt.Errorf("creating scratch file: %w", err)
	}
	release := func() { os.Remove(f.Name()) }
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		release()
		return "", nil, fmt.Errorf("spooling %d bytes: %w", len(data), err)
	}
	return f.Name(), release, nil
}
