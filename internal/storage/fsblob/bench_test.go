package fsblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// benchSize is the layer size pushed per iteration: 256 MiB unless
// BERTH_BENCH_MIB says otherwise (1024 for the 1 GiB figure).
func benchSize(b *testing.B) int64 {
	mib := int64(256)
	if v := os.Getenv("BERTH_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("BERTH_BENCH_MIB=%q", v)
		}
		mib = n
	}
	return mib << 20
}

// layer streams size bytes by repeating one random MiB: cheap to produce,
// so the benchmark measures the store and not the source.
type layer struct {
	block []byte
	left  int64
	pos   int
}

func newLayer(size int64) *layer { return &layer{block: randBytes(7, 1<<20), left: size} }

func (l *layer) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), l.left)], l.block[l.pos:])
	l.pos = (l.pos + n) % len(l.block)
	l.left -= int64(n)
	return n, nil
}

// BenchmarkAppendCommit pushes one layer in a single Append and commits it,
// next to a plain write+fsync of the same bytes as the disk's ceiling.
//
//	go test -run '^$' -bench AppendCommit -benchtime 3x ./internal/storage/fsblob/
func BenchmarkAppendCommit(b *testing.B) {
	size := benchSize(b)
	h := sha256.New()
	if _, err := io.Copy(h, newLayer(size)); err != nil {
		b.Fatal(err)
	}
	want := digest.NewDigest(digest.SHA256, h)
	name := fmt.Sprintf("%dMiB", size>>20)

	b.Run("plain-write-fsync/"+name, func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			if err := plainWrite(filepath.Join(dir, strconv.Itoa(i)), newLayer(size)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"fsblob", Options{}},
		{"fsblob-no-writeback", Options{WritebackEvery: -1}},
	} {
		b.Run(tc.name+"/"+name, func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, b.TempDir(), tc.opts)
			b.SetBytes(size)
			for b.Loop() {
				u, err := s.Create(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Append(ctx, u.ID, 0, newLayer(size)); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Commit(ctx, u.ID, want); err != nil {
					b.Fatal(err)
				}
				// Otherwise the next push would only dedupe.
				b.StopTimer()
				if err := s.Delete(ctx, want); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// plainWrite is the baseline: 1 MiB writes, one fsync, no hashing.
func plainWrite(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r, buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Remove(path)
}

// BenchmarkSmallPush measures the latency of a whole small-blob push
// (Create, one Append, Commit): dominated by fsyncs, not bandwidth.
func BenchmarkSmallPush(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, b.TempDir(), Options{})
	for i := 0; b.Loop(); i++ {
		blob := []byte(fmt.Sprintf("small blob %d %s", i, strings.Repeat("x", 4000)))
		u, err := s.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Commit(ctx, u.ID, digest.FromBytes(blob)); err != nil {
			b.Fatal(err)
		}
	}
}
