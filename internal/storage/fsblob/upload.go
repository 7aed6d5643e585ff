package fsblob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// newPrefix names an upload directory while Create assembles it.
const newPrefix = ".new-"

// bufSize is the unit of Append's writes: large enough that a 1 GiB push is
// a thousand syscalls, small enough to pool per concurrent upload.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// Create starts an upload for repo. The upload directory is assembled under
// a temporary name and renamed into place, so a crash never leaves a
// half-created upload.
func (s *Store) Create(ctx context.Context, repo string) (storage.UploadInfo, error) {
	done, err := s.enter()
	if err != nil {
		return storage.UploadInfo{}, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return storage.UploadInfo{}, fmt.Errorf("creating upload: %w", err)
	}
	if len(repo) > maxRepoLen {
		return storage.UploadInfo{}, fmt.Errorf("creating upload: repository name longer than %d bytes", maxRepoLen)
	}
	id := newID()
	u := &upload{id: id, info: uploadInfo{Repo: repo, Started: time.Now().UTC()}}
	if err := s.createDir(u); err != nil {
		return storage.UploadInfo{}, fmt.Errorf("creating upload for %q: %w", repo, err)
	}
	return u.uploadInfo(), nil
}

func (s *Store) createDir(u *upload) (err error) {
	tmp := filepath.Join(s.upDir, newPrefix+u.id)
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	u.dir = tmp
	ib, err := json.Marshal(u.info)
	if err != nil {
		return err
	}
	if err := s.writeFileAtomic(filepath.Join(tmp, infoFile), ib); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(tmp, dataFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	// No state file yet: with none, an empty data file is size 0 and a
	// fresh hash, and Create saves an fsync.
	if err := f.Close(); err != nil {
		return err
	}
	if s.sync {
		if err := syncDir(tmp); err != nil {
			return err
		}
	}
	final := s.uploadDir(u.id)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	u.dir = final
	if s.sync {
		return syncDir(s.upDir)
	}
	return nil
}

// Status reports an upload's repository, durable size and start time. It
// waits for an Append in progress on the same upload, so the size it
// reports is never one that is about to change.
func (s *Store) Status(ctx context.Context, id string) (storage.UploadInfo, error) {
	done, err := s.enter()
	if err != nil {
		return storage.UploadInfo{}, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return storage.UploadInfo{}, err
	}
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.loadUpload(ctx, id, false)
	if err != nil {
		return storage.UploadInfo{}, err
	}
	return u.uploadInfo(), nil
}

// Append writes r at offset, hashing as it goes. Whatever was read before an
// error (client gone, context cancelled) is kept and made durable, so the
// client can resume at the returned size.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (storage.UploadInfo, error) {
	done, err := s.enter()
	if err != nil {
		return storage.UploadInfo{}, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return storage.UploadInfo{}, err
	}
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.loadUpload(ctx, id, true)
	if err != nil {
		return storage.UploadInfo{}, err
	}
	defer u.close()
	if offset != u.size {
		return u.uploadInfo(), fmt.Errorf("upload %s: append at %d, size is %d: %w", id, offset, u.size, storage.ErrOffset)
	}
	start := u.size
	copyErr := s.copyIn(ctx, u, r)
	if u.size == start {
		if copyErr != nil {
			return u.uploadInfo(), fmt.Errorf("upload %s: appending: %w", id, copyErr)
		}
		return u.uploadInfo(), nil
	}
	if err := s.persist(u, start); err != nil {
		return storage.UploadInfo{ID: id, Repo: u.info.Repo, Size: start, Started: u.info.Started}, err
	}
	if copyErr != nil {
		return u.uploadInfo(), fmt.Errorf("upload %s: appending (kept %d bytes): %w", id, u.size, copyErr)
	}
	return u.uploadInfo(), nil
}

// copyIn streams r into the data file at u.size, advancing u.size and
// u.hash by exactly the bytes written.
func (s *Store) copyIn(ctx context.Context, u *upload, r io.Reader) error {
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	flushed := u.size
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			w, werr := u.data.WriteAt(buf[:n], u.size)
			u.hash.Write(buf[:w])
			u.size += int64(w)
			if werr != nil {
				return werr
			}
			if s.sync && s.writeback > 0 && u.size-flushed >= s.writeback {
				startWriteback(u.data, flushed, u.size-flushed)
				flushed = u.size
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return rerr
		}
	}
}

// persist makes the bytes appended since start durable and records them.
// If the data cannot be synced the append is undone, so that the state
// never runs ahead of the disk.
func (s *Store) persist(u *upload, start int64) error {
	if s.sync {
		if err := syncData(u.data); err != nil {
			u.data.Truncate(start)
			u.size = start
			return fmt.Errorf("upload %s: syncing data: %w", u.id, err)
		}
	}
	return s.saveState(u)
}

// Commit verifies the upload against want and moves it into the blob
// store, or discards it if the blob is already there.
func (s *Store) Commit(ctx context.Context, id string, want digest.Digest) (int64, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return 0, err
	}
	target, err := s.blobPath(want)
	if err != nil {
		return 0, fmt.Errorf("upload %s: commit: %w", id, err)
	}
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.loadUpload(ctx, id, true)
	if err != nil {
		return 0, err
	}
	defer u.close()

	got, err := u.digest(ctx, want.Algorithm())
	if err != nil {
		return 0, fmt.Errorf("upload %s: commit: %w", id, err)
	}
	if got != want {
		u.close()
		rmErr := os.RemoveAll(u.dir)
		return 0, errors.Join(
			fmt.Errorf("upload %s: content is %s, want %s: %w", id, got, want, storage.ErrDigestMismatch),
			rmErr)
	}
	if err := s.place(u, target); err != nil {
		return 0, fmt.Errorf("upload %s: commit %s: %w", id, want, err)
	}
	return u.size, nil
}

// digest returns the digest of the upload's content under alg: from the
// streaming hash when this Store wrote every byte under alg, by rereading
// the data otherwise (sha512, or an upload resumed after a restart).
func (u *upload) digest(ctx context.Context, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 && u.hash != nil && !u.foreign {
		return digest.NewDigest(alg, u.hash), nil
	}
	h := alg.Hash()
	if err := hashFile(ctx, u.data, h); err != nil {
		return "", fmt.Errorf("rehashing: %w", err)
	}
	return digest.NewDigest(alg, h), nil
}

// place renames the verified data file to target and removes the rest of
// the upload. An existing target means the content is already stored.
func (s *Store) place(u *upload, target string) error {
	if _, err := os.Lstat(target); err == nil {
		u.close()
		return os.RemoveAll(u.dir)
	}
	// Normally synced by Append already, then this is nearly free; after a
	// crash and rehash the data may still sit in the page cache only.
	if s.sync {
		if err := syncData(u.data); err != nil {
			return fmt.Errorf("syncing data: %w", err)
		}
	}
	if err := s.mkdirSynced(filepath.Dir(target)); err != nil {
		return err
	}
	// Blobs are immutable; the mode says so to anyone looking at the disk.
	// It is set last so that a failed commit leaves an upload that can
	// still be appended to.
	if err := u.data.Chmod(0o440); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(u.dir, dataFile), target); err != nil {
		_ = u.data.Chmod(0o640)
		return err
	}
	u.close()
	if s.sync {
		if err := syncDir(filepath.Dir(target)); err != nil {
			return err
		}
	}
	// The blob is committed; a failure to tidy up leaves an upload that
	// reports as broken and is removed by garbage collection.
	return os.RemoveAll(u.dir)
}

// mkdirSynced creates dir and any missing parents below the blobs
// directory, syncing each new directory's parent so the entries survive a
// crash together with the blob renamed into them.
func (s *Store) mkdirSynced(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.blobsDir {
		if err := s.mkdirSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if s.sync {
		return syncDir(parent)
	}
	return nil
}

// Cancel forgets an upload and its bytes.
func (s *Store) Cancel(ctx context.Context, id string) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := checkID(id); err != nil {
		return err
	}
	unlock := s.locks.lock(id)
	defer unlock()
	dir := s.uploadDir(id)
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cancel upload %s: %w", id, storage.ErrUploadUnknown)
		}
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// ListUploads calls fn for each upload. An upload whose info is unreadable
// is still listed, with an empty Repo and its directory's modification time
// as Started, so that garbage collection can find and cancel it.
func (s *Store) ListUploads(ctx context.Context, fn func(storage.UploadInfo) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	ents, err := os.ReadDir(s.upDir)
	if err != nil {
		return fmt.Errorf("listing uploads: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("listing uploads: %w", err)
		}
		id := e.Name()
		if !e.IsDir() || !validID(id) {
			continue
		}
		info, ok, err := s.listed(ctx, id, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// listed describes one upload for ListUploads; ok is false if it vanished.
func (s *Store) listed(ctx context.Context, id string, e fs.DirEntry) (storage.UploadInfo, bool, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.loadUpload(ctx, id, false)
	if err == nil {
		return u.uploadInfo(), true, nil
	}
	fi, serr := e.Info()
	if errors.Is(serr, fs.ErrNotExist) {
		return storage.UploadInfo{}, false, nil
	}
	if serr != nil {
		return storage.UploadInfo{}, false, fmt.Errorf("listing uploads: %w", serr)
	}
	if !errors.Is(err, storage.ErrUploadUnknown) {
		return storage.UploadInfo{}, false, fmt.Errorf("listing uploads: %w", err)
	}
	return storage.UploadInfo{ID: id, Started: fi.ModTime().UTC()}, true, nil
}

// newHash is the streaming hash of every upload.
func newHash() hash.Hash { return digest.SHA256.Hash() }
