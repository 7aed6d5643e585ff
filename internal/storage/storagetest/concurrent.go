package storagetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// testConcurrentSameContent pushes one layer from several clients at once,
// as happens when many nodes pull-and-push the same base image.
func testConcurrentSameContent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	b := content(20, 2<<20+11)
	want := digest.FromBytes(b)
	const clients = 8
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pushErr(ctx, s, b, 256<<10*(i+1), want)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent push of the same content: %v", err)
		}
	}
	if got := readAll(t, s, want); !bytes.Equal(got, b) {
		t.Fatal("content differs after concurrent pushes")
	}
}

func testConcurrentDifferentContent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	const clients = 8
	blobs := make([][]byte, clients)
	for i := range blobs {
		blobs[i] = content(uint64(100+i), 1<<20+i)
	}
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pushErr(ctx, s, blobs[i], 100000, digest.FromBytes(blobs[i]))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent push: %v", err)
		}
	}
	for i, b := range blobs {
		if got := readAll(t, s, digest.FromBytes(b)); !bytes.Equal(got, b) {
			t.Fatalf("blob %d differs after concurrent pushes", i)
		}
	}
}

// testConcurrentAppendSameUpload races two appends at the same offset: the
// store must serialize them, so exactly one wins and the other sees
// ErrOffset, and the upload holds the winner's bytes only.
func testConcurrentAppendSameUpload(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for round := range 5 {
		u := create(t, s, "r")
		candidates := [][]byte{content(uint64(200+round), 1<<20), content(uint64(300+round), 1<<20)}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range candidates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Append(ctx, u.ID, 0, bytes.NewReader(candidates[i]))
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won == -1:
				won = i
			case err == nil:
				t.Fatal("both appends at offset 0 succeeded")
			case !errors.Is(err, storage.ErrOffset):
				t.Fatalf("losing append: got %v, want ErrOffset", err)
			}
		}
		if won == -1 {
			t.Fatalf("no append succeeded: %v", errs)
		}
		if _, err := s.Commit(ctx, u.ID, digest.FromBytes(candidates[won])); err != nil {
			t.Fatalf("Commit of the winning append: %v", err)
		}
	}
}

// pushErr is push for goroutines: it returns errors instead of failing.
func pushErr(ctx context.Context, s storage.Store, b []byte, chunk int, want digest.Digest) error {
	u, err := s.Create(ctx, "r")
	if err != nil {
		return err
	}
	var off int64
	for off < int64(len(b)) {
		end := min(off+int64(chunk), int64(len(b)))
		if _, err := s.Append(ctx, u.ID, off, bytes.NewReader(b[off:end])); err != nil {
			return err
		}
		off = end
	}
	_, err = s.Commit(ctx, u.ID, want)
	return err
}
