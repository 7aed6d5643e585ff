package quota

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

func openMeta(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	link := func(repo, content string) {
		if err := meta.LinkBlob(ctx, repo, digest.FromString(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	link("team/a", "0123456789") // 10 bytes
	link("team/b", "0123456789") // shared: counts in b too, once globally
	link("other", "xyz")         // 3 bytes
	opts := Options{Global: 20, Repos: []Rule{{"team/*", 15}, {"*", 100}}}
	tests := []struct {
		name    string
		repo    string
		n       int64
		free    int64
		minFree int64
		want    string // "" admits; else the error text
	}{
		{"under the repository quota", "team/a", 5, 0, 0, ""},
		{"over the repository quota", "team/a", 6, 0, 0, "quota exceeded: repository team/a uses 10 of 15 bytes"},
		{"over the global quota", "other", 8, 0, 0, "quota exceeded: the registry uses 13 of 20 bytes"},
		{"no rule matches deeper names", "x/y/z", 7, 0, 0, ""},
		{"disk above the watermark", "other", 1, 1000, 500, ""},
		{"disk below the watermark", "other", 600, 1000, 500, "storage is low: 1000 bytes free, below the 500-byte watermark"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.MinFree = tc.minFree
			l, err := New(meta, o)
			if err != nil {
				t.Fatal(err)
			}
			l.free = func(string) (int64, error) { return tc.free, nil }
			err = l.AdmitBlob(ctx, tc.repo, tc.n)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(tc.want))):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	var ee *ExceededError
	l, _ := New(meta, Options{Repos: []Rule{{"team/a", 9}}})
	if err := l.AdmitManifest(ctx, "team/a"); !errors.As(err, &ee) || ee.Used != 10 {
		t.Errorf("AdmitManifest over quota = %v", err)
	}
	if _, err := New(meta, Options{Repos: []Rule{{"[", 1}}}); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestFreeBytesOfRealDisk(t *testing.T) {
	n, err := freeBytes(t.TempDir())
	if err != nil || n <= 0 {
		t.Errorf("freeBytes = %d, %v", n, err)
	}
}

func TestMeasure(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(content string, repos ...string) {
		u, err := blobs.Create(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, u.ID, 0, bytes.NewReader([]byte(content))); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Commit(ctx, u.ID, digest.FromString(content)); err != nil {
			t.Fatal(err)
		}
		for _, r := range repos {
			if err := meta.LinkBlob(ctx, r, digest.FromString(content), int64(len(content))); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("shared-10b", "a", "b")
	put("own", "a")
	put("garbage")
	l, _ := New(meta, Options{Repos: []Rule{{"a", 50}}})
	r, err := Measure(ctx, blobs, meta, l)
	if err != nil {
		t.Fatal(err)
	}
	if r.StoredBlobs != 3 || r.StoredBytes != 20 || len(r.Repositories) != 2 {
		t.Fatalf("report = %+v", r)
	}
	a, b := r.Repositories[0], r.Repositories[1]
	if a.Name != "a" || a.Bytes != 13 || a.UniqueBytes != 3 || a.SharedBytes != 10 || a.Quota != 50 || a.Blobs != 2 {
		t.Errorf("a = %+v", a)
	}
	if b.Name != "b" || b.Bytes != 10 || b.UniqueBytes != 0 || b.SharedBytes != 10 || b.Quota != 0 {
		t.Errorf("b = %+v", b)
	}
}

func TestGlobalTotalIsCachedBriefly(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	l, err := New(meta, Options{Global: 10})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l.now = func() time.Time { return now }
	if err := l.AdmitBlob(ctx, "a", 10); err != nil {
		t.Fatalf("empty registry: %v", err)
	}
	if err := meta.LinkBlob(ctx, "a", digest.FromString("x"), 10); err != nil {
		t.Fatal(err)
	}
	if err := l.AdmitBlob(ctx, "a", 1); err != nil {
		t.Errorf("within the TTL the cached total should admit: %v", err)
	}
	now = now.Add(globalTTL)
	var ee *ExceededError
	if err := l.AdmitBlob(ctx, "a", 1); !errors.As(err, &ee) || ee.Used != 10 {
		t.Errorf("after the TTL: %v, want the fresh total of 10 exceeded", err)
	}
}
