package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// seedDataDir writes a data directory as berth serve lays it out: one
// blob a manifest references and one stored but unlinked.
func seedDataDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	meta, err := sqlite.Open(ctx, filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	for i, content := range []string{"linked blob", "garbage"} {
		u, err := blobs.Create(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, u.ID, 0, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Commit(ctx, u.ID, digest.FromString(content)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := meta.LinkBlob(ctx, "app", digest.FromString(content), int64(len(content))); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := &metadata.Manifest{Repo: "app", Digest: digest.FromString("{}"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 2, Content: []byte("{}"), Blobs: []digest.Digest{digest.FromString("linked blob")}}
	if err := meta.PutManifest(ctx, m, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGCCommand(t *testing.T) {
	dir := seedDataDir(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default grace keeps fresh blobs", []string{"gc", "--data-dir", dir}, "Deleted 0 blobs (0 B)"},
		{"dry run", []string{"gc", "--data-dir", dir, "--dry-run", "--grace", "0s"}, "Would delete 1 blobs (7 B)"},
		{"collect", []string{"gc", "--data-dir", dir, "--grace", "0s"}, "Deleted 1 blobs (7 B)"},
		{"nothing left", []string{"gc", "--data-dir", dir, "--grace", "0s"}, "Deleted 0 blobs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb, noEnv); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q does not contain %q", out.String(), tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"usage", "--data-dir", dir, "-o", "json"}, &out, &errb, noEnv); code != ExitOK {
		t.Fatalf("usage: exit %d: %s", code, errb.String())
	}
	var rep struct {
		StoredBlobs  int `json:"storedBlobs"`
		Repositories []struct {
			Name        string `json:"name"`
			UniqueBytes int64  `json:"uniqueBytes"`
		} `json:"repositories"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.StoredBlobs != 1 || len(rep.Repositories) != 1 ||
		rep.Repositories[0].Name != "app" || rep.Repositories[0].UniqueBytes != 11 {
		t.Errorf("usage json: %v %s", err, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"usage", "--data-dir", dir}, &out, &errb, noEnv); code != ExitOK ||
		!strings.Contains(out.String(), "REPOSITORY") || !strings.Contains(out.String(), "Stored: 1 blobs, 11 B") {
		t.Errorf("usage table: %s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"usage", "--data-dir", dir, "--exact"}, &out, &errb, noEnv); code != ExitOK ||
		!strings.Contains(out.String(), "Stored: 1 blobs, 11 B") {
		t.Errorf("usage --exact after gc: %s", out.String())
	}
	if code := run(context.Background(), []string{"gc", "--output", "yaml", "--data-dir", dir}, &out, &errb, noEnv); code != ExitUsage {
		t.Errorf("bad --output: exit %d", code)
	}
}

// TestUsageExact reads usage from metadata by default and walks the blob
// store with --exact, which also counts the file nothing links.
func TestUsageExact(t *testing.T) {
	dir := seedDataDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"usage", "--data-dir", dir}, "Stored: 1 blobs, 11 B"},
		{[]string{"usage", "--data-dir", dir, "--exact"}, "Stored: 2 blobs, 18 B"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[3:], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb, noEnv); code != ExitOK || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, output %q, want %q", code, out.String()+errb.String(), tt.want)
			}
		})
	}
}
