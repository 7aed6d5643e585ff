package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	// Registered so that digest.Digest.Validate and Algorithm.Hash accept
	// both algorithms the store verifies.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

var (
	_ storage.Store        = (*Store)(nil)
	_ storage.Walker       = (*Store)(nil)
	_ storage.UploadLister = (*Store)(nil)
)

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("fsblob: store closed")

// Options tune a Store; the zero value is the safe default.
type Options struct {
	// NoSync skips fsync of data, state and directories. Only for tests and
	// benchmarks: a crash may then lose acknowledged uploads.
	NoSync bool
	// WritebackEvery is how many bytes an Append writes before asking the
	// kernel to start writing them back (Linux only), so the final fsync has
	// little left to do. Zero means 32 MiB; negative disables it.
	WritebackEvery int64
}

const defaultWritebackEvery = 32 << 20

// Store is a blob store and upload area rooted at one directory. It is safe
// for concurrent use.
type Store struct {
	dir       string
	blobsDir  string
	upDir     string
	sync      bool
	writeback int64
	locks     lockTable
	// instance tells this Store's upload states from those of earlier
	// processes; see uploadState.Writer.
	instance string

	mu     sync.RWMutex
	closed bool
}

// Open opens (creating if needed) a store rooted at dir.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
	}
	s := &Store{
		dir:       abs,
		blobsDir:  filepath.Join(abs, "blobs"),
		upDir:     filepath.Join(abs, "uploads"),
		sync:      !opts.NoSync,
		writeback: opts.WritebackEvery,
		instance:  newID(),
	}
	if s.writeback == 0 {
		s.writeback = defaultWritebackEvery
	}
	for _, d := range []string{s.blobsDir, s.upDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
		}
	}
	s.removeStaleCreates(time.Now().Add(-staleCreate))
	return s, nil
}

// staleCreate is how old a half-created upload directory must be before
// Open removes it. Create takes milliseconds; the margin keeps another
// process sharing the directory from losing one in progress.
const staleCreate = time.Hour

// removeStaleCreates removes upload directories left by a crash inside
// Create, which no ID can reach. It is best effort: leftovers cost only
// disk space, so a failure must not stop the store from opening.
func (s *Store) removeStaleCreates(before time.Time) {
	ents, err := os.ReadDir(s.upDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), newPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			_ = os.RemoveAll(filepath.Join(s.upDir, e.Name()))
		}
	}
}

// Close marks the store closed. It holds no open files between calls, so
// there is nothing else to release; blobs already opened stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// enter guards every method against use after Close; the returned func
// must be called when the method is done.
func (s *Store) enter() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

// blobPath returns where d lives. d is validated first: the path is built
// from its parts, so an unchecked digest could escape the directory.
func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	enc := d.Encoded()
	return filepath.Join(s.blobsDir, string(d.Algorithm()), enc[:2], enc), nil
}

// checkDigest accepts only the algorithms the store can verify, with an
// encoded part of exactly the right length and alphabet.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %w", d, err)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return fmt.Errorf("invalid digest %q: unsupported algorithm", d)
}

// Stat returns the size of a blob, or storage.ErrNotFound.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	p, err := s.blobPath(d)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w: %w", storage.ErrNotFound, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, notFound("stat blob "+string(d), err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat blob %s: not a regular file", d)
	}
	return fi.Size(), nil
}

// Open returns a blob backed by an *os.File, so that Range requests seek
// and nothing is buffered beyond what the caller reads.
func (s *Store) Open(ctx context.Context, d digest.Digest) (storage.Blob, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	p, err := s.blobPath(d)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w: %w", storage.ErrNotFound, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound("open blob "+string(d), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open blob %s: not a regular file", d)
	}
	return &blob{File: f, size: fi.Size(), mod: fi.ModTime()}, nil
}

// blob embeds *os.File: reads and seeks go straight to the file, and a
// caller that wants the kernel's copy paths can still reach them.
type blob struct {
	*os.File
	size int64
	mod  time.Time
}

func (b *blob) Size() int64        { return b.size }
func (b *blob) ModTime() time.Time { return b.mod }

// Delete removes a blob, or returns storage.ErrNotFound.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	p, err := s.blobPath(d)
	if err != nil {
		return fmt.Errorf("delete blob: %w: %w", storage.ErrNotFound, err)
	}
	if err := os.Remove(p); err != nil {
		return notFound("delete blob "+string(d), err)
	}
	if s.sync {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return fmt.Errorf("delete blob %s: %w", d, err)
		}
	}
	return nil
}

// Walk calls fn for every blob, in lexical order of digest within each
// algorithm. Entries that are not well-formed blob files are skipped.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		algDir := filepath.Join(s.blobsDir, string(alg))
		prefixes, err := readDirIfExists(algDir)
		if err != nil {
			return fmt.Errorf("walking blobs: %w", err)
		}
		for _, p := range prefixes {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("walking blobs: %w", err)
			}
			if !p.IsDir() || len(p.Name()) != 2 {
				continue
			}
			if err := s.walkPrefix(alg, filepath.Join(algDir, p.Name()), p.Name(), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) walkPrefix(alg digest.Algorithm, dir, prefix string, fn func(digest.Digest, int64) error) error {
	ents, err := readDirIfExists(dir)
	if err != nil {
		return fmt.Errorf("walking blobs: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || len(e.Name()) < 2 || e.Name()[:2] != prefix {
			continue
		}
		d := digest.NewDigestFromEncoded(alg, e.Name())
		if d.Validate() != nil {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while walking
		}
		if err != nil {
			return fmt.Errorf("walking blobs: %w", err)
		}
		if err := fn(d, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

func readDirIfExists(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ents, err
}

// notFound maps a missing file to storage.ErrNotFound and keeps other
// errors as they are.
func notFound(doing string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", doing, storage.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// syncDir makes a directory's entries (a rename, a new file) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
