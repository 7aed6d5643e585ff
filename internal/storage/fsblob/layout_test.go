package fsblob

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

func TestLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	b := []byte("hello, berth")
	u, err := s.Create(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{infoFile, dataFile} {
		if _, err := os.Stat(filepath.Join(dir, "uploads", u.ID, name)); err != nil {
			t.Fatalf("upload file %s: %v", name, err)
		}
	}
	if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", u.ID, stateFile)); err != nil {
		t.Fatalf("no state file after Append: %v", err)
	}
	d := digest.FromBytes(b)
	if _, err := s.Commit(ctx, u.ID, d); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("blob not at %s: %v", p, err)
	}
	if fi.Size() != int64(len(b)) || fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("blob file size %d mode %v; want %d bytes, read-only", fi.Size(), fi.Mode(), len(b))
	}
	left, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil || len(left) != 0 {
		t.Fatalf("uploads left after commit: %v %v", left, err)
	}
}

func TestOpenRemovesStaleCreates(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir, Options{})
	stale := filepath.Join(dir, "uploads", newPrefix+uuid.NewString())
	fresh := filepath.Join(dir, "uploads", newPrefix+uuid.NewString())
	for _, d := range []string{stale, fresh} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleCreate)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir, Options{})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale half-created upload not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent half-created upload removed: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "r"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	if _, err := s.Stat(ctx, digest.FromString("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
}

// TestTraversal feeds IDs and digests that would escape the store's
// directory and checks that nothing outside is read, written or removed.
func TestTraversal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	s := openStore(t, dir, Options{})
	victim := filepath.Join(root, "victim")
	writeFile(t, victim, []byte("keep me"))
	if err := os.MkdirAll(filepath.Join(root, "uploads", "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	ids := []string{
		"..", "../victim", "../../victim", "/etc", victim, ".", "",
		"../uploads/x", strings.ToUpper(id), "{" + id + "}", "urn:uuid:" + id,
		strings.ReplaceAll(id, "-", ""), id + "\n", id + "/..", id[:35] + "/",
		".new-" + id,
	}
	for _, bad := range ids {
		if _, err := s.Status(ctx, bad); !errors.Is(err, storage.ErrUploadUnknown) {
			t.Errorf("Status(%q): %v, want ErrUploadUnknown", bad, err)
		}
		if _, err := s.Append(ctx, bad, 0, strings.NewReader("x")); !errors.Is(err, storage.ErrUploadUnknown) {
			t.Errorf("Append(%q): %v, want ErrUploadUnknown", bad, err)
		}
		if err := s.Cancel(ctx, bad); !errors.Is(err, storage.ErrUploadUnknown) {
			t.Errorf("Cancel(%q): %v, want ErrUploadUnknown", bad, err)
		}
	}
	digests := []digest.Digest{
		"sha256:../../../victim", "../victim", "sha256:" + digest.Digest(strings.Repeat("../", 21)+"x"),
		"sha256:" + digest.Digest(strings.Repeat("A", 64)), "md5:d41d8cd98f00b204e9800998ecf8427e", "",
		"sha384:" + digest.Digest(strings.Repeat("0", 96)),
	}
	for _, d := range digests {
		if _, err := s.Stat(ctx, d); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q): %v, want ErrNotFound", d, err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", d, err)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Fatalf("file outside the store was touched: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "uploads", "x")); err != nil {
		t.Fatalf("directory outside the store was touched: %v", err)
	}
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{uuid.NewString(), "..", "../x", "00000000-0000-0000-0000-000000000000",
		"AAAAAAAA-0000-0000-0000-000000000000", "{00000000-0000-0000-0000-000000000000}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validID(id) {
			if err := checkID(id); !errors.Is(err, storage.ErrUploadUnknown) {
				t.Fatalf("checkID(%q) = %v for an invalid id", id, err)
			}
			return
		}
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("validID(%q) but it is not a canonical UUID", id)
		}
		if filepath.Base(id) != id || strings.ContainsAny(id, `./\`) {
			t.Fatalf("validID(%q) accepts a path-like id", id)
		}
	})
}
