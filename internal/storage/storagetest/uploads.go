package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

func testMissingBlob(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, d := range []digest.Digest{
		digest.FromString("never stored"),
		digest.SHA512.FromString("never stored"),
	} {
		wantNotFound(t, s, d)
		wantErr(t, "Delete", s.Delete(ctx, d), storage.ErrNotFound)
	}
}

func testUnknownUpload(t *testing.T, s storage.Store) {
	ctx := context.Background()
	d := digest.FromString("x")
	for _, id := range []string{uuid.NewString(), "", "../../blobs", "not-an-id"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, err := s.Status(ctx, id)
			wantErr(t, "Status", err, storage.ErrUploadUnknown)
			_, err = s.Append(ctx, id, 0, bytes.NewReader([]byte("x")))
			wantErr(t, "Append", err, storage.ErrUploadUnknown)
			_, err = s.Commit(ctx, id, d)
			wantErr(t, "Commit", err, storage.ErrUploadUnknown)
			wantErr(t, "Cancel", s.Cancel(ctx, id), storage.ErrUploadUnknown)
		})
	}
	wantNotFound(t, s, d)
}

func testChunks(t *testing.T, s storage.Store) {
	b := content(1, 3<<20+17)
	for _, chunk := range []int{0, 1 << 20, 1<<20 + 1, 777777} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			d := push(t, s, "library/chunks", b, chunk)
			n, err := s.Stat(context.Background(), d)
			if err != nil || n != int64(len(b)) {
				t.Fatalf("Stat = %d, %v; want %d", n, err, len(b))
			}
			if got := readAll(t, s, d); !bytes.Equal(got, b) {
				t.Fatal("blob content differs from what was pushed")
			}
		})
	}
	t.Run("tiny chunks", func(t *testing.T) {
		small := content(2, 100)
		d := push(t, s, "library/chunks", small, 1)
		if got := readAll(t, s, d); !bytes.Equal(got, small) {
			t.Fatal("blob content differs from what was pushed")
		}
	})
}

func testStatusAfterAppend(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := create(t, s, "a/b")
	b := content(3, 5000)
	for off := 0; off < len(b); off += 1234 {
		end := min(off+1234, len(b))
		appendChunks(t, s, u.ID, int64(off), b[off:end], 0)
		st, err := s.Status(ctx, u.ID)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.ID != u.ID || st.Repo != "a/b" || st.Size != int64(end) {
			t.Fatalf("Status = %+v, want id %s repo a/b size %d", st, u.ID, end)
		}
		// Backends may store Started at a coarser precision.
		if st.Started.Sub(u.Started).Abs() > time.Second {
			t.Fatalf("Started changed from %v to %v", u.Started, st.Started)
		}
	}
	// An empty append changes nothing.
	st, err := s.Append(ctx, u.ID, int64(len(b)), bytes.NewReader(nil))
	if err != nil || st.Size != int64(len(b)) {
		t.Fatalf("empty Append = %+v, %v; want size %d", st, err, len(b))
	}
}

func testWrongOffset(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := create(t, s, "r")
	b := content(4, 100)
	appendChunks(t, s, u.ID, 0, b[:50], 0)
	for _, off := range []int64{0, 49, 51, 1000, -1} {
		_, err := s.Append(ctx, u.ID, off, bytes.NewReader(b[50:]))
		wantErr(t, fmt.Sprintf("Append at %d", off), err, storage.ErrOffset)
	}
	st, err := s.Status(ctx, u.ID)
	if err != nil || st.Size != 50 {
		t.Fatalf("Status after refused appends = %+v, %v; want size 50", st, err)
	}
	appendChunks(t, s, u.ID, 50, b[50:], 0)
	if _, err := s.Commit(ctx, u.ID, digest.FromBytes(b)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func testDigestMismatch(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(5, 4096)
	wrong := digest.FromString("something else")
	u := create(t, s, "r")
	appendChunks(t, s, u.ID, 0, b, 1000)
	_, err := s.Commit(ctx, u.ID, wrong)
	wantErr(t, "Commit with wrong digest", err, storage.ErrDigestMismatch)
	wantNotFound(t, s, wrong)
	wantNotFound(t, s, digest.FromBytes(b))
	// The content is gone: committing again cannot succeed.
	_, err = s.Commit(ctx, u.ID, digest.FromBytes(b))
	if err == nil {
		t.Fatal("Commit after a mismatch succeeded; the content should have been removed")
	}
	wantNotFound(t, s, digest.FromBytes(b))
}

func testSHA512(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(6, 2<<20+3)
	u := create(t, s, "r")
	appendChunks(t, s, u.ID, 0, b, 1<<20)
	d := digest.SHA512.FromBytes(b)
	n, err := s.Commit(ctx, u.ID, d)
	if err != nil || n != int64(len(b)) {
		t.Fatalf("Commit(sha512) = %d, %v; want %d", n, err, len(b))
	}
	if got := readAll(t, s, d); !bytes.Equal(got, b) {
		t.Fatal("sha512 blob content differs")
	}
	// Content is addressed by the digest it was committed under only.
	wantNotFound(t, s, digest.FromBytes(b))

	u = create(t, s, "r")
	appendChunks(t, s, u.ID, 0, b, 0)
	_, err = s.Commit(ctx, u.ID, digest.SHA512.FromString("other"))
	wantErr(t, "Commit with wrong sha512", err, storage.ErrDigestMismatch)
}

func testEmptyBlob(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, withAppend := range []bool{false, true} {
		t.Run(fmt.Sprintf("append=%v", withAppend), func(t *testing.T) {
			u := create(t, s, "r")
			if withAppend {
				appendChunks(t, s, u.ID, 0, nil, 0)
				if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(nil)); err != nil {
					t.Fatalf("empty Append: %v", err)
				}
			}
			d := digest.FromBytes(nil)
			n, err := s.Commit(ctx, u.ID, d)
			if err != nil || n != 0 {
				t.Fatalf("Commit(empty) = %d, %v", n, err)
			}
			if sz, err := s.Stat(ctx, d); err != nil || sz != 0 {
				t.Fatalf("Stat(empty) = %d, %v", sz, err)
			}
			if got := readAll(t, s, d); len(got) != 0 {
				t.Fatalf("empty blob read %d bytes", len(got))
			}
		})
	}
}

func testDedupe(t *testing.T, s storage.Store) {
	b := content(7, 10000)
	d1 := push(t, s, "one", b, 0)
	d2 := push(t, s, "two", b, 3000)
	if d1 != d2 {
		t.Fatalf("same content, different digests %s %s", d1, d2)
	}
	if got := readAll(t, s, d1); !bytes.Equal(got, b) {
		t.Fatal("deduplicated blob content differs")
	}
	w, ok := s.(storage.Walker)
	if !ok {
		return
	}
	seen := 0
	err := w.Walk(context.Background(), func(d digest.Digest, size int64) error {
		if d == d1 {
			seen++
		}
		return nil
	})
	if err != nil || seen != 1 {
		t.Fatalf("Walk saw the blob %d times (err %v), want once", seen, err)
	}
}

func testCommitForgetsUpload(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(8, 10)
	u := create(t, s, "r")
	appendChunks(t, s, u.ID, 0, b, 0)
	if _, err := s.Commit(ctx, u.ID, digest.FromBytes(b)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	_, err := s.Status(ctx, u.ID)
	wantErr(t, "Status after Commit", err, storage.ErrUploadUnknown)
	_, err = s.Append(ctx, u.ID, 10, bytes.NewReader(b))
	wantErr(t, "Append after Commit", err, storage.ErrUploadUnknown)
}

func testCancel(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(9, 1000)
	u := create(t, s, "r")
	appendChunks(t, s, u.ID, 0, b, 0)
	if err := s.Cancel(ctx, u.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err := s.Status(ctx, u.ID)
	wantErr(t, "Status after Cancel", err, storage.ErrUploadUnknown)
	_, err = s.Append(ctx, u.ID, 1000, bytes.NewReader(b))
	wantErr(t, "Append after Cancel", err, storage.ErrUploadUnknown)
	_, err = s.Commit(ctx, u.ID, digest.FromBytes(b))
	wantErr(t, "Commit after Cancel", err, storage.ErrUploadUnknown)
	wantErr(t, "second Cancel", s.Cancel(ctx, u.ID), storage.ErrUploadUnknown)
	wantNotFound(t, s, digest.FromBytes(b))
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	keep := push(t, s, "r", content(10, 100), 0)
	gone := push(t, s, "r", content(11, 100), 0)
	if err := s.Delete(ctx, gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, gone)
	wantErr(t, "second Delete", s.Delete(ctx, gone), storage.ErrNotFound)
	if _, err := s.Stat(ctx, keep); err != nil {
		t.Fatalf("Delete removed another blob: %v", err)
	}
	// A deleted blob can be pushed again.
	push(t, s, "r", content(11, 100), 0)
}

// failingReader yields n bytes of r, then fails like a dropped connection.
type failingReader struct {
	r io.Reader
	n int
}

var errDropped = errors.New("connection dropped")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDropped
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func testInterruptedAppend(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(12, 3<<20)
	u := create(t, s, "r")
	_, err := s.Append(ctx, u.ID, 0, &failingReader{r: bytes.NewReader(b), n: 2<<20 + 5})
	if err == nil {
		t.Fatal("Append from a failing reader succeeded")
	}
	st, err := s.Status(ctx, u.ID)
	if err != nil {
		t.Fatalf("Status after a failed Append: %v", err)
	}
	if st.Size < 0 || st.Size > 2<<20+5 {
		t.Fatalf("Status size %d after receiving %d bytes", st.Size, 2<<20+5)
	}
	appendChunks(t, s, u.ID, st.Size, b[st.Size:], 0)
	if _, err := s.Commit(ctx, u.ID, digest.FromBytes(b)); err != nil {
		t.Fatalf("Commit after resuming at %d: %v", st.Size, err)
	}
}
