package fsblob

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

func randBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// startUpload creates an upload in a store on dir, appends head, and closes
// the store, as if the process had stopped between two chunks.
func startUpload(t *testing.T, dir string, head []byte) string {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, dir, Options{})
	u, err := s.Create(ctx, "library/resume")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(head)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// finish resumes id in a new store on dir at the size it reports, appends
// the rest of full and commits under want.
func finish(t *testing.T, dir, id string, full []byte, want digest.Digest) int64 {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, dir, Options{})
	st, err := s.Status(ctx, id)
	if err != nil {
		t.Fatalf("Status after reopen: %v", err)
	}
	if st.Repo != "library/resume" {
		t.Fatalf("Status repo %q after reopen", st.Repo)
	}
	if _, err := s.Append(ctx, id, st.Size, bytes.NewReader(full[st.Size:])); err != nil {
		t.Fatalf("Append at %d after reopen: %v", st.Size, err)
	}
	if _, err := s.Commit(ctx, id, want); err != nil {
		t.Fatalf("Commit after reopen: %v", err)
	}
	b, err := s.Open(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), full) {
		t.Fatal("committed content differs")
	}
	return st.Size
}

func TestResumeAfterReopen(t *testing.T) {
	full := randBytes(1, 3<<20+5)
	for _, want := range []digest.Digest{digest.FromBytes(full), digest.SHA512.FromBytes(full)} {
		t.Run(string(want.Algorithm()), func(t *testing.T) {
			dir := t.TempDir()
			id := startUpload(t, dir, full[:2<<20])
			if got := finish(t, dir, id, full, want); got != 2<<20 {
				t.Fatalf("resumed at %d, want %d", got, 2<<20)
			}
		})
	}
}

// TestCrashRecovery damages an upload's files the ways a crash (or a
// careless operator) can, then checks that resuming either yields the right
// digest or fails cleanly without a visible blob.
func TestCrashRecovery(t *testing.T) {
	full := randBytes(2, 1<<20+333)
	const head = 600000
	tests := []struct {
		name   string
		damage func(t *testing.T, up string)
		// resumeAt is the size Status must report after the damage.
		resumeAt int64
	}{
		{"interrupted append leaves extra bytes", func(t *testing.T, up string) {
			appendFile(t, filepath.Join(up, dataFile), randBytes(9, 4321))
		}, head},
		{"state garbage", func(t *testing.T, up string) {
			writeFile(t, filepath.Join(up, stateFile), []byte("{\x00garbage"))
		}, head},
		{"state missing", func(t *testing.T, up string) {
			removeFile(t, filepath.Join(up, stateFile))
		}, head},
		{"state hash garbage", func(t *testing.T, up string) {
			writeFile(t, filepath.Join(up, stateFile), []byte(`{"size":600000,"alg":"sha256","hash":"AAAA"}`))
		}, head},
		{"state hash garbage and extra bytes", func(t *testing.T, up string) {
			appendFile(t, filepath.Join(up, dataFile), randBytes(9, 4321))
			writeFile(t, filepath.Join(up, stateFile), []byte(`{"size":600000,"alg":"sha256","hash":"AAAA"}`))
		}, head},
		{"state from another algorithm", func(t *testing.T, up string) {
			writeFile(t, filepath.Join(up, stateFile), []byte(`{"size":600000,"alg":"sha512","hash":"AAAA"}`))
		}, head},
		{"state ahead of data", func(t *testing.T, up string) {
			if err := os.Truncate(filepath.Join(up, dataFile), 100000); err != nil {
				t.Fatal(err)
			}
		}, 100000},
		{"state older than data", func(t *testing.T, up string) {
			// The rename of the new state was lost: old state, longer data.
			old, err := os.ReadFile(filepath.Join(up, stateFile))
			if err != nil {
				t.Fatal(err)
			}
			appendFile(t, filepath.Join(up, dataFile), full[head:head+1000])
			writeFile(t, filepath.Join(up, stateFile), old)
		}, head},
		{"leftover temporary state", func(t *testing.T, up string) {
			writeFile(t, filepath.Join(up, stateFile+".tmp"), []byte("half"))
		}, head},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			id := startUpload(t, dir, full[:head])
			tc.damage(t, filepath.Join(dir, "uploads", id))
			if got := finish(t, dir, id, full, digest.FromBytes(full)); got != tc.resumeAt {
				t.Fatalf("resumed at %d, want %d", got, tc.resumeAt)
			}
		})
	}
}

func TestCrashRecoveryCleanErrors(t *testing.T) {
	ctx := context.Background()
	full := randBytes(3, 100000)
	want := digest.FromBytes(full)

	t.Run("data corrupted in place", func(t *testing.T) {
		dir := t.TempDir()
		id := startUpload(t, dir, full)
		f, err := os.OpenFile(filepath.Join(dir, "uploads", id, dataFile), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("rot"), 5000); err != nil {
			t.Fatal(err)
		}
		f.Close()
		s := openStore(t, dir, Options{})
		for _, d := range []digest.Digest{want, digest.SHA512.FromBytes(full)} {
			_, err = s.Commit(ctx, id, d)
			if !errors.Is(err, storage.ErrDigestMismatch) && !errors.Is(err, storage.ErrUploadUnknown) {
				t.Fatalf("Commit(%s) of corrupted data: %v, want a digest mismatch", d.Algorithm(), err)
			}
			if _, err := s.Stat(ctx, d); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("corrupted upload became visible: %v", err)
			}
		}
	})
	t.Run("data corrupted then resumed", func(t *testing.T) {
		dir := t.TempDir()
		id := startUpload(t, dir, full[:50000])
		f, err := os.OpenFile(filepath.Join(dir, "uploads", id, dataFile), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("rot"), 100); err != nil {
			t.Fatal(err)
		}
		f.Close()
		s := openStore(t, dir, Options{})
		if _, err := s.Append(ctx, id, 50000, bytes.NewReader(full[50000:])); err != nil {
			t.Fatal(err)
		}
		// The instance that resumed has written the latest state, yet must
		// remember that older bytes came from elsewhere.
		if _, err := s.Commit(ctx, id, want); !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Commit of an upload with corrupted resumed bytes: %v, want a digest mismatch", err)
		}
		if _, err := s.Stat(ctx, want); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("corrupted upload became visible: %v", err)
		}
	})
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, up string)
	}{
		{"info garbage", func(t *testing.T, up string) { writeFile(t, filepath.Join(up, infoFile), []byte("]]")) }},
		{"info missing", func(t *testing.T, up string) { removeFile(t, filepath.Join(up, infoFile)) }},
		{"data missing", func(t *testing.T, up string) { removeFile(t, filepath.Join(up, dataFile)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			id := startUpload(t, dir, full)
			tc.damage(t, filepath.Join(dir, "uploads", id))
			s := openStore(t, dir, Options{})
			if _, err := s.Status(ctx, id); !errors.Is(err, storage.ErrUploadUnknown) {
				t.Fatalf("Status: %v, want ErrUploadUnknown", err)
			}
			if _, err := s.Commit(ctx, id, want); !errors.Is(err, storage.ErrUploadUnknown) {
				t.Fatalf("Commit: %v, want ErrUploadUnknown", err)
			}
			// Still listed, so garbage collection can find it, and cancellable.
			listed := false
			err := s.ListUploads(ctx, func(u storage.UploadInfo) error {
				listed = listed || u.ID == id
				return nil
			})
			if err != nil || !listed {
				t.Fatalf("ListUploads: listed=%v err=%v; want the broken upload listed", listed, err)
			}
			if err := s.Cancel(ctx, id); err != nil {
				t.Fatalf("Cancel of a broken upload: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "uploads", id)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Cancel left the upload directory: %v", err)
			}
		})
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
