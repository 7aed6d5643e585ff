package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

const imageType = "application/vnd.oci.image.manifest.v1+json"

// newLifecycleEnv is a registry with the recycle bin and locks enabled.
func newLifecycleEnv(t *testing.T) *testEnv {
	env := newEnv(t, Options{})
	env.reg.opts.Trash, env.reg.opts.Locks = env.meta, env.meta
	return env
}

func TestDeleteGoesToTrashAndRestores(t *testing.T) {
	env := newLifecycleEnv(t)
	body := env.testImage("app", "")
	d := digest.FromBytes(body)
	env.pushManifest("app", "v1", imageType, body)
	env.pushManifest("app", "v2", imageType, body)

	if r := env.do(http.MethodDelete, "/v2/app/manifests/"+d.String(), nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	for _, ref := range []string{d.String(), "v1", "v2"} {
		if r := env.do(http.MethodGet, "/v2/app/manifests/"+ref, nil); r.status != http.StatusNotFound || errCode(t, r.body) != "MANIFEST_UNKNOWN" {
			t.Errorf("GET %s after delete: %d %s, want 404 MANIFEST_UNKNOWN", ref, r.status, r.body)
		}
	}
	if r := env.do(http.MethodGet, "/v2/app/tags/list", nil); strings.Contains(string(r.body), "v1") {
		t.Errorf("tags list after delete: %s", r.body)
	}
	// The blobs stay linked: a trashed manifest holds them.
	if _, err := env.meta.StatBlob(context.Background(), "app", digest.FromBytes([]byte("layer app"))); err != nil {
		t.Errorf("layer of a trashed manifest: %v", err)
	}
	if _, err := env.meta.Restore(context.Background(), "app", "", d, false); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, ref := range []string{d.String(), "v1", "v2"} {
		r := env.do(http.MethodGet, "/v2/app/manifests/"+ref, nil, "Accept", imageType)
		if r.status != http.StatusOK || string(r.body) != string(body) || r.header.Get("Docker-Content-Digest") != d.String() {
			t.Errorf("GET %s after restore: %d, digest %s", ref, r.status, r.header.Get("Docker-Content-Digest"))
		}
	}
	// Deleting a tag trashes only the tag.
	if r := env.do(http.MethodDelete, "/v2/app/manifests/v2", nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE tag: %d %s", r.status, r.body)
	}
	entries, _ := env.meta.ListTrash(context.Background(), "app", metadata.Page{})
	if len(entries) != 1 || entries[0].Tag != "v2" {
		t.Errorf("bin = %+v, want the v2 tag", entries)
	}
}

func TestDeleteWithoutTrashIsImmediate(t *testing.T) {
	env := newEnv(t, Options{})
	body := env.testImage("app", "")
	env.pushManifest("app", "v1", imageType, body)
	if r := env.do(http.MethodDelete, "/v2/app/manifests/"+digest.FromBytes(body).String(), nil); r.status != http.StatusAccepted {
		t.Fatalf("DELETE: %d", r.status)
	}
	if entries, _ := env.meta.ListTrash(context.Background(), "", metadata.Page{}); len(entries) != 0 {
		t.Errorf("bin = %+v, want empty with trash off", entries)
	}
}

func TestLocksRefuse(t *testing.T) {
	ctx := context.Background()
	env := newLifecycleEnv(t)
	body := env.testImage("app", "")
	other := env.testImage("app", `,"annotations":{"x":"y"}`)
	d := digest.FromBytes(body)
	env.pushManifest("app", "v1", imageType, body)
	env.pushManifest("app", "v2", imageType, body)
	env.pushManifest("app", "release-1", imageType, other)
	env.pushManifest("locked", "v1", imageType, env.testImage("locked", ""))
	env.pushManifest("hidden", "v1", imageType, env.testImage("hidden", ""))

	for _, l := range []metadata.Lock{
		{Repo: "app", Tag: "v1", DeleteEnabled: true, ReadEnabled: true},
		{Repo: "app", Tag: "v2", WriteEnabled: true, ReadEnabled: true},
		{Repo: "locked", DeleteEnabled: true, ReadEnabled: true},
		{Repo: "hidden", WriteEnabled: true, DeleteEnabled: true},
	} {
		if err := env.meta.SetLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.meta.AddImmutableRule(ctx, metadata.ImmutableRule{Repos: "app", Tags: "release-.*"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path string
		body               []byte
		want               string
	}{
		{"overwrite write-locked tag", http.MethodPut, "/v2/app/manifests/v1", other, "tag app:v1 is locked (write-enabled=false)"},
		{"delete write-locked tag", http.MethodDelete, "/v2/app/manifests/v1", nil, "tag app:v1 is locked (write-enabled=false)"},
		{"delete delete-locked tag", http.MethodDelete, "/v2/app/manifests/v2", nil, "tag app:v2 is locked (delete-enabled=false)"},
		{"delete digest with a locked tag", http.MethodDelete, "/v2/app/manifests/" + d.String(), nil, "tag app:v1 is locked (write-enabled=false)"},
		{"overwrite immutable tag", http.MethodPut, "/v2/app/manifests/release-1", body, `tag app:release-1 is immutable (rule 1: repositories "app", tags "release-.*")`},
		{"delete immutable tag", http.MethodDelete, "/v2/app/manifests/release-1", nil, "tag app:release-1 is immutable"},
		{"multi-tag PUT moving a locked tag", http.MethodPut, "/v2/app/manifests/" + digest.FromBytes(other).String() + "?tag=fresh&tag=v1", other, "tag app:v1 is locked (write-enabled=false)"},
		{"multi-tag PUT moving an immutable tag", http.MethodPut, "/v2/app/manifests/" + d.String() + "?tag=fresh&tag=release-1", body, "tag app:release-1 is immutable"},
		{"push to locked repository", http.MethodPut, "/v2/locked/manifests/v2", body, "repository locked is locked (write-enabled=false)"},
		{"delete in locked repository", http.MethodDelete, "/v2/locked/manifests/v1", nil, "repository locked is locked (write-enabled=false)"},
		{"pull read-locked repository", http.MethodGet, "/v2/hidden/manifests/v1", nil, "repository hidden is locked (read-enabled=false)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(tt.method, tt.path, tt.body, "Content-Type", imageType)
			if r.status != http.StatusForbidden || errCode(t, r.body) != "DENIED" || !strings.Contains(strings.ReplaceAll(string(r.body), `\"`, `"`), tt.want) {
				t.Errorf("%s %s = %d %s; want 403 DENIED %q", tt.method, tt.path, r.status, r.body, tt.want)
			}
		})
	}
	// Allowed: re-pushing the same content to a locked tag, a new immutable tag.
	env.pushManifest("app", "v1", imageType, body)
	env.pushManifest("app", "release-2", imageType, body)
	if r := env.do(http.MethodGet, "/v2/app/manifests/v1", nil); r.status != http.StatusOK {
		t.Errorf("pull of a write-locked tag = %d, want 200", r.status)
	}
	// Nothing was deleted or moved by the refusals.
	if _, err := env.meta.TaggedManifest(ctx, "app", "fresh"); err == nil {
		t.Error("a refused multi-tag PUT created its other tag")
	}
	if got, err := env.meta.TaggedManifest(ctx, "app", "release-1"); err != nil || got.Digest != digest.FromBytes(other) {
		t.Errorf("release-1 after refusals: %v, %v", got, err)
	}
	// Cleared, the lock no longer refuses.
	if err := env.meta.ClearLock(ctx, "app", "v2", ""); err != nil {
		t.Fatal(err)
	}
	if r := env.do(http.MethodDelete, "/v2/app/manifests/v2", nil); r.status != http.StatusAccepted {
		t.Errorf("DELETE after ClearLock = %d %s", r.status, r.body)
	}
}
