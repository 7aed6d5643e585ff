package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A directory and a zip packed into one zip import as the two did: same
// advisories, same version.
func TestPackZip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"id":"X-1","modified":"2024-01-01T00:00:00Z"}`)
	write("notes.txt", "not OSV")
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, body := range map[string]string{
		"a.json":   `{"id":"X-2","modified":"2024-02-01T00:00:00Z"}`,
		"big.json": `{"id":"X-3","modified":"2024-02-01T00:00:00Z","details":"` + string(bytes.Repeat([]byte("x"), 300)) + `"}`,
	} {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	zpath := filepath.Join(t.TempDir(), "src.zip")
	os.WriteFile(zpath, zb.Bytes(), 0o600)

	lim := Limits{MaxEntrySize: 200}
	direct := NewBuilder(lim)
	for _, p := range []string{dir, zpath} {
		if err := direct.AddPath(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	want := direct.Build()

	var packed bytes.Buffer
	n, err := PackZip(ctx, &packed, []string{dir, zpath}, lim)
	if err != nil || n != 2 {
		t.Fatalf("PackZip: %d members, %v; want 2 (big.json is over the entry cap, notes.txt is not JSON)", n, err)
	}
	b := NewBuilder(lim)
	if err := b.AddZipReader(ctx, "packed", bytes.NewReader(packed.Bytes()), int64(packed.Len())); err != nil {
		t.Fatal(err)
	}
	got := b.Build()
	if got.Len() != 2 || got.Version() != want.Version() {
		t.Errorf("packed: %d advisories, version %s; want 2, %s", got.Len(), got.Version(), want.Version())
	}
	if _, err := PackZip(ctx, &packed, []string{filepath.Join(dir, "missing")}, lim); err == nil {
		t.Error("packing a missing path succeeded")
	}
}
