package quota

import (
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestReserve steps through reservations against a 100-byte repository
// quota, a 150-byte global one and a free-disk watermark: bytes in flight
// count until released, and a release frees them once.
func TestReserve(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	if err := meta.LinkBlob(ctx, "a", digest.FromString("x"), 40); err != nil {
		t.Fatal(err)
	}
	l, err := New(meta, Options{Global: 150, Repos: []Rule{{"a", 100}, {"b", 100}}, MinFree: 10, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l.free = func(string) (int64, error) { return 200, nil }
	var held []func()
	steps := []struct {
		name    string
		repo    string
		n       int64
		release int // releases held[release-1] first, when > 0
		want    string
	}{
		{"fits", "a", 50, 0, ""},
		{"over with the first in flight", "a", 20, 0, "quota exceeded: repository a uses 40 of 100 bytes (and 50 bytes are being uploaded)"},
		{"other repository, global counts both", "b", 70, 0, "quota exceeded: the registry uses 40 of 150 bytes (and 50 bytes are being uploaded)"},
		{"other repository fits globally", "b", 60, 0, ""},
		{"global counts every upload in flight", "b", 1, 0, "quota exceeded: the registry uses 40 of 150 bytes (and 110 bytes are being uploaded)"},
		{"released, fits again", "a", 20, 1, ""},
		{"second release is a no-op", "a", 41, 1, "quota exceeded: repository a uses 40 of 100 bytes (and 20 bytes are being uploaded)"},
	}
	for _, st := range steps {
		if st.release > 0 {
			held[st.release-1]()
		}
		release, err := l.Reserve(ctx, st.repo, st.n)
		switch {
		case st.want == "" && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case st.want != "" && (err == nil || !strings.Contains(err.Error(), st.want)):
			t.Errorf("%s: err = %v, want %q", st.name, err, st.want)
		}
		if err == nil {
			held = append(held, release)
		}
	}
	// 200 free, 80 in flight: 115 more would leave 5, under the 10 minimum.
	l.opts.Global = 0
	if _, err := l.Reserve(ctx, "c", 115); err == nil || !strings.Contains(err.Error(), "storage is low") {
		t.Errorf("reserve under the watermark: %v", err)
	}
}
