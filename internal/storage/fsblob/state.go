package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

const (
	infoFile  = "info"
	dataFile  = "data"
	stateFile = "state"
	// maxMetaFile bounds reads of info and state: both are tiny JSON.
	maxMetaFile = 4 << 10
	// maxRepoLen bounds the repository name stored with an upload; the
	// registry validates names, this only keeps the info file small.
	maxRepoLen = 1024
)

// uploadInfo is the info file: facts fixed at Create.
type uploadInfo struct {
	Repo    string    `json:"repo"`
	Started time.Time `json:"started"`
}

// uploadState is the state file: how far the upload durably got and the
// streaming hash at that point.
type uploadState struct {
	Size int64            `json:"size"`
	Alg  digest.Algorithm `json:"alg"`
	Hash []byte           `json:"hash"` // MarshalBinary of the hash at Size
	// Writer is the instance of the Store that saved this state. Another
	// process may have been interrupted or the disk damaged since, so a
	// Store trusts the saved hash at Commit only for uploads it wrote itself.
	Writer string `json:"writer"`
	// Foreign records that some bytes were written by another instance; it
	// is sticky so that resuming and appending cannot launder old bytes.
	Foreign bool `json:"foreign,omitempty"`
}

// upload is an upload loaded from disk, reconciled with its data file.
type upload struct {
	id   string
	dir  string
	info uploadInfo
	size int64
	// hash covers exactly the first size bytes of data; nil when loaded
	// without it.
	hash hash.Hash
	// data is open read-write when loaded with the hash.
	data *os.File
	// foreign means the hash cannot be trusted to match the data at Commit:
	// part of the upload was written by another Store instance.
	foreign bool
}

func (u *upload) close() {
	if u.data != nil {
		u.data.Close()
		u.data = nil
	}
}

func (u *upload) uploadInfo() storage.UploadInfo {
	return storage.UploadInfo{ID: u.id, Repo: u.info.Repo, Size: u.size, Started: u.info.Started}
}

func (s *Store) uploadDir(id string) string { return filepath.Join(s.upDir, id) }

// loadUpload reads an upload's info and size. With withData it also opens
// the data file, drops bytes past the durable state (an interrupted Append)
// and restores or recomputes the hash. The caller holds the upload's lock.
func (s *Store) loadUpload(ctx context.Context, id string, withData bool) (*upload, error) {
	dir := s.uploadDir(id)
	var info uploadInfo
	if err := readJSON(filepath.Join(dir, infoFile), &info); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("upload %s: %w", id, storage.ErrUploadUnknown)
		}
		return nil, fmt.Errorf("upload %s: unreadable info (%v): %w", id, err, storage.ErrUploadUnknown)
	}
	u := &upload{id: id, dir: dir, info: info}

	flag := os.O_RDONLY
	if withData {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(filepath.Join(dir, dataFile), flag, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("upload %s: data missing: %w", id, storage.ErrUploadUnknown)
		}
		return nil, fmt.Errorf("upload %s: opening data: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	onDisk := fi.Size()

	// A state that parses and fits in the data file fixes the size, even if
	// its hash is unusable: bytes past it are an interrupted Append. Without
	// one, the data file is the truth.
	var st uploadState
	parsed := readJSON(filepath.Join(dir, stateFile), &st) == nil &&
		st.Size >= 0 && st.Size <= onDisk
	u.size = onDisk
	if parsed {
		u.size = st.Size
	}
	if !withData {
		f.Close()
		return u, nil
	}
	u.data = f
	if onDisk > u.size {
		if err := f.Truncate(u.size); err != nil {
			u.close()
			return nil, fmt.Errorf("upload %s: dropping interrupted append: %w", id, err)
		}
	}
	if parsed {
		if h, ok := restoreHash(st); ok {
			u.hash = h
			u.foreign = st.Foreign || st.Writer != s.instance
			return u, nil
		}
	}
	// The hash now comes from the bytes on disk rather than from a record,
	// so it can be trusted at Commit.
	h := newHash()
	if err := hashFile(ctx, f, h); err != nil {
		u.close()
		return nil, fmt.Errorf("upload %s: rehashing: %w", id, err)
	}
	u.hash = h
	if err := s.saveState(u); err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

// restoreHash rebuilds the streaming hash from st, or reports it unusable.
func restoreHash(st uploadState) (hash.Hash, bool) {
	if st.Alg != digest.SHA256 {
		return nil, false
	}
	h := sha256.New()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok || u.UnmarshalBinary(st.Hash) != nil {
		return nil, false
	}
	return h, true
}

// saveState records u.size and u.hash. The data must already be durable:
// the state is replaced by rename, so a crash leaves the old or the new
// state, either of which the data file can back.
func (s *Store) saveState(u *upload) error {
	m, ok := u.hash.(encoding.BinaryMarshaler)
	if !ok {
		return fmt.Errorf("upload %s: hash state cannot be saved", u.id)
	}
	hb, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("upload %s: saving hash state: %w", u.id, err)
	}
	b, err := json.Marshal(uploadState{
		Size: u.size, Alg: digest.SHA256, Hash: hb,
		Writer: s.instance, Foreign: u.foreign,
	})
	if err != nil {
		return fmt.Errorf("upload %s: encoding state: %w", u.id, err)
	}
	if err := s.writeFileAtomic(filepath.Join(u.dir, stateFile), b); err != nil {
		return fmt.Errorf("upload %s: saving state: %w", u.id, err)
	}
	return nil
}

// writeFileAtomic replaces path with b via a temporary file and rename.
func (s *Store) writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && s.sync {
		err = syncData(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// readJSON decodes a small metadata file, refusing anything over
// maxMetaFile.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaFile+1))
	if err != nil {
		return err
	}
	if len(b) > maxMetaFile {
		return fmt.Errorf("%s: larger than %d bytes", filepath.Base(path), maxMetaFile)
	}
	return json.Unmarshal(b, v)
}

// hashFile feeds f from offset 0 to its end into h.
func hashFile(ctx context.Context, f *os.File, h hash.Hash) error {
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.ReadAt(buf, off)
		h.Write(buf[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
