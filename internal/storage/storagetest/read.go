package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

func testSeekRanges(t *testing.T, s storage.Store) {
	b := content(30, 1<<20+100)
	d := push(t, s, "r", b, 0)
	blob, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer blob.Close()
	if blob.ModTime().IsZero() {
		t.Error("ModTime is zero")
	}
	size := int64(len(b))
	tests := []struct {
		offset int64
		whence int
		want   int64 // absolute position
		n      int
	}{
		{0, io.SeekStart, 0, 10},
		{1000, io.SeekStart, 1000, 5000},
		{-100, io.SeekEnd, size - 100, 100},
		{-50, io.SeekCurrent, size - 50, 50},
		{1 << 20, io.SeekStart, 1 << 20, 100},
		{0, io.SeekEnd, size, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d", tc.offset, tc.whence), func(t *testing.T) {
			pos, err := blob.Seek(tc.offset, tc.whence)
			if err != nil || pos != tc.want {
				t.Fatalf("Seek(%d, %d) = %d, %v; want %d", tc.offset, tc.whence, pos, err, tc.want)
			}
			got := make([]byte, tc.n)
			if _, err := io.ReadFull(blob, got); err != nil {
				t.Fatalf("reading %d bytes at %d: %v", tc.n, pos, err)
			}
			if !bytes.Equal(got, b[pos:pos+int64(tc.n)]) {
				t.Fatalf("bytes at %d differ", pos)
			}
		})
	}
	if n, err := blob.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read at end = %d, %v; want EOF", n, err)
	}
}

// testServeContentRange serves a blob the way the registry will, through
// http.ServeContent, and checks a Range request end to end.
func testServeContentRange(t *testing.T, s storage.Store) {
	b := content(31, 300000)
	d := push(t, s, "r", b, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blob, err := s.Open(r.Context(), d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer blob.Close()
		http.ServeContent(w, r, "", blob.ModTime(), blob)
	}))
	defer srv.Close()
	tests := []struct {
		rng        string
		status     int
		start, end int // inclusive end
	}{
		{"", http.StatusOK, 0, len(b) - 1},
		{"bytes=0-0", http.StatusPartialContent, 0, 0},
		{"bytes=1000-200999", http.StatusPartialContent, 1000, 200999},
		{"bytes=-10", http.StatusPartialContent, len(b) - 10, len(b) - 1},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tc.rng != "" {
				req.Header.Set("Range", tc.rng)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(b))+1))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !bytes.Equal(got, b[tc.start:tc.end+1]) {
				t.Fatalf("status %d, %d bytes; want %d and bytes %d-%d", resp.StatusCode, len(got), tc.status, tc.start, tc.end)
			}
		})
	}
}

func testWalk(t *testing.T, s storage.Store) {
	w, ok := s.(storage.Walker)
	if !ok {
		t.Skip("store is not a storage.Walker")
	}
	ctx := context.Background()
	want := map[digest.Digest]int64{}
	for i := range 5 {
		b := content(uint64(40+i), 1000*i)
		want[push(t, s, "r", b, 0)] = int64(len(b))
	}
	u := create(t, s, "r")
	b := content(49, 100)
	appendChunks(t, s, u.ID, 0, b, 0)
	u2 := create(t, s, "r")
	appendChunks(t, s, u2.ID, 0, b, 0)
	want[digest.SHA512.FromBytes(b)] = 100
	if _, err := s.Commit(ctx, u2.ID, digest.SHA512.FromBytes(b)); err != nil {
		t.Fatal(err)
	}

	got := map[digest.Digest]int64{}
	err := w.Walk(ctx, func(d digest.Digest, size int64) error {
		if _, dup := got[d]; dup {
			t.Errorf("Walk yielded %s twice", d)
		}
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk yielded %d blobs, want %d (an upload in progress must not be listed)", len(got), len(want))
	}
	for d, size := range want {
		if got[d] != size {
			t.Errorf("Walk: %s has size %d, want %d", d, got[d], size)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err = w.Walk(ctx, func(digest.Digest, int64) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk with a failing callback: %d calls, error %v; want 1 call and the callback's error", calls, err)
	}
}

func testListUploads(t *testing.T, s storage.Store) {
	l, ok := s.(storage.UploadLister)
	if !ok {
		t.Skip("store is not a storage.UploadLister")
	}
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	a := create(t, s, "team/a")
	b := create(t, s, "team/b")
	appendChunks(t, s, b.ID, 0, content(50, 777), 0)
	done := create(t, s, "team/c")
	if _, err := s.Commit(ctx, done.ID, digest.FromBytes(nil)); err != nil {
		t.Fatal(err)
	}
	gone := create(t, s, "team/d")
	if err := s.Cancel(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	got := map[string]storage.UploadInfo{}
	err := l.ListUploads(ctx, func(u storage.UploadInfo) error {
		got[u.ID] = u
		return nil
	})
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range got {
			if !yield(id) {
				return
			}
		}
	})
	wantIDs := []string{a.ID, b.ID}
	slices.Sort(wantIDs)
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("ListUploads = %v, want %v", ids, wantIDs)
	}
	for _, w := range []struct {
		id, repo string
		size     int64
	}{{a.ID, "team/a", 0}, {b.ID, "team/b", 777}} {
		u := got[w.id]
		if u.Repo != w.repo || u.Size != w.size || u.Started.Before(before) || u.Started.After(time.Now().Add(time.Minute)) {
			t.Errorf("listed %+v, want repo %s size %d started just now", u, w.repo, w.size)
		}
	}
}

// testBigBlob streams a 64 MiB blob in and out and checks that the store
// never held it in memory.
func testBigBlob(t *testing.T, s storage.Store) {
	if testing.Short() {
		t.Skip("big blob skipped in -short mode")
	}
	const size = 64 << 20
	const chunk = 16 << 20
	const maxAlloc = 32 << 20 // half the blob
	ctx := context.Background()
	h := sha256.New()
	if _, err := io.Copy(h, randReader(60, size)); err != nil {
		t.Fatal(err)
	}
	want := digest.NewDigest(digest.SHA256, h)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	start := ms.TotalAlloc

	u := create(t, s, "big")
	src := randReader(60, size)
	for off := int64(0); off < size; off += chunk {
		if _, err := s.Append(ctx, u.ID, off, io.LimitReader(src, chunk)); err != nil {
			t.Fatalf("Append at %d: %v", off, err)
		}
	}
	if n, err := s.Commit(ctx, u.ID, want); err != nil || n != size {
		t.Fatalf("Commit = %d, %v", n, err)
	}
	blob, err := s.Open(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	h.Reset()
	if _, err := io.Copy(h, blob); err != nil {
		t.Fatal(err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != want {
		t.Fatalf("read back %s, want %s", got, want)
	}

	runtime.ReadMemStats(&ms)
	if alloc := ms.TotalAlloc - start; alloc > maxAlloc {
		t.Fatalf("pushing and reading a %d MiB blob allocated %d MiB; the store must stream", size>>20, alloc>>20)
	}
}
