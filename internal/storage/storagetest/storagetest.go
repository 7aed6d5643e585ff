// Package storagetest is the conformance suite every storage.Store runs:
// the filesystem store today, object stores later. A backend's tests call
// Run with a constructor that returns a fresh, empty store.
//
// The suite checks the contract written on package storage, through the
// interface only. Optional abilities (storage.Walker, storage.UploadLister)
// are tested when the store has them. Subtests run one after another so
// that the memory check of the big-blob test measures only that test.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	// Registered so that sha512 digests can be computed and validated.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// Run runs the whole suite. newStore must return a new, empty store each
// time it is called, and arrange its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"MissingBlob", testMissingBlob},
		{"UnknownUpload", testUnknownUpload},
		{"Chunks", testChunks},
		{"StatusAfterAppend", testStatusAfterAppend},
		{"WrongOffset", testWrongOffset},
		{"DigestMismatch", testDigestMismatch},
		{"SHA512", testSHA512},
		{"EmptyBlob", testEmptyBlob},
		{"Dedupe", testDedupe},
		{"CommitForgetsUpload", testCommitForgetsUpload},
		{"Cancel", testCancel},
		{"Delete", testDelete},
		{"InterruptedAppendResumes", testInterruptedAppend},
		{"ConcurrentSameContent", testConcurrentSameContent},
		{"ConcurrentDifferentContent", testConcurrentDifferentContent},
		{"ConcurrentAppendSameUpload", testConcurrentAppendSameUpload},
		{"SeekRanges", testSeekRanges},
		{"ServeContentRange", testServeContentRange},
		{"Walk", testWalk},
		{"ListUploads", testListUploads},
		{"BigBlobStreams", testBigBlob},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// content returns n deterministic pseudo-random bytes; different seeds give
// different content.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// randReader streams n deterministic pseudo-random bytes without holding
// them in memory.
func randReader(seed uint64, n int64) io.Reader {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xbe, 0x27})
	return io.LimitReader(r, n)
}

// push uploads b in chunks of chunk bytes (all at once if chunk <= 0) and
// commits it under its sha256 digest.
func push(t *testing.T, s storage.Store, repo string, b []byte, chunk int) digest.Digest {
	t.Helper()
	ctx := context.Background()
	u := create(t, s, repo)
	appendChunks(t, s, u.ID, 0, b, chunk)
	d := digest.FromBytes(b)
	n, err := s.Commit(ctx, u.ID, d)
	if err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
	if n != int64(len(b)) {
		t.Fatalf("Commit returned size %d, want %d", n, len(b))
	}
	return d
}

func create(t *testing.T, s storage.Store, repo string) storage.UploadInfo {
	t.Helper()
	u, err := s.Create(context.Background(), repo)
	if err != nil {
		t.Fatalf("Create(%q): %v", repo, err)
	}
	if u.ID == "" || u.Size != 0 || u.Repo != repo {
		t.Fatalf("Create(%q) = %+v, want an ID, size 0 and the repo", repo, u)
	}
	return u
}

// appendChunks appends b starting at offset off and checks every returned
// size.
func appendChunks(t *testing.T, s storage.Store, id string, off int64, b []byte, chunk int) {
	t.Helper()
	if chunk <= 0 {
		chunk = len(b)
	}
	for len(b) > 0 {
		n := min(chunk, len(b))
		info, err := s.Append(context.Background(), id, off, bytes.NewReader(b[:n]))
		if err != nil {
			t.Fatalf("Append(offset %d, %d bytes): %v", off, n, err)
		}
		off += int64(n)
		if info.Size != off {
			t.Fatalf("Append returned size %d, want %d", info.Size, off)
		}
		b = b[n:]
	}
}

// readAll reads a blob through the interface and checks its reported size.
func readAll(t *testing.T, s storage.Store, d digest.Digest) []byte {
	t.Helper()
	b, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	if b.Size() != int64(len(got)) {
		t.Fatalf("Size() = %d, read %d bytes", b.Size(), len(got))
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantNotFound(t *testing.T, s storage.Store, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	_, err := s.Stat(ctx, d)
	wantErr(t, "Stat "+string(d), err, storage.ErrNotFound)
	b, err := s.Open(ctx, d)
	if err == nil {
		b.Close()
	}
	wantErr(t, "Open "+string(d), err, storage.ErrNotFound)
}
