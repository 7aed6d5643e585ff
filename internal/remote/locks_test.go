package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/berth-registry/berth/internal/remote"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// setLock puts a lock through the server's API, as berth lock set does.
func setLock(t *testing.T, c *remote.Client, l remote.LockInfo) {
	t.Helper()
	body, _ := json.Marshal(l)
	apiCall(t, c, http.MethodPut, "/api/v1/locks", body)
}

// apiCall sends a JSON body to the server's API and wants a 2xx answer.
func apiCall(t *testing.T, c *remote.Client, method, path string, body []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, c.Base()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}

func TestSourceMarksLocked(t *testing.T) {
	ctx := context.Background()
	c := startBerth(t, 0)
	for _, tag := range []string{"write", "delete", "read", "release-1", "free"} {
		pushImage(t, c, "app", tag, tag)
	}
	pinned := pushImage(t, c, "app", "pinned")
	frozen := pushImage(t, c, "frozen", "f", "v1")
	for _, l := range []remote.LockInfo{
		{Repository: "app", Tag: "write", DeleteEnabled: true, ReadEnabled: true},
		{Repository: "app", Tag: "delete", WriteEnabled: true, ReadEnabled: true},
		{Repository: "app", Tag: "read", WriteEnabled: true, DeleteEnabled: true},
		{Repository: "app", Digest: pinned, WriteEnabled: true, ReadEnabled: true},
		{Repository: "frozen", DeleteEnabled: true, ReadEnabled: true},
	} {
		setLock(t, c, l)
	}
	apiCall(t, c, http.MethodPost, "/api/v1/immutable-rules", []byte(`{"repositories":"app","tags":"release-.*"}`))

	tests := []struct {
		name          string
		includeLocked bool
		tags          map[string]bool // repo "app"
		pinned        bool
	}{
		{"locks kept", false, map[string]bool{"write": true, "delete": true, "read": false, "release-1": true, "free": false}, true},
		// Item locks are up to the rules; the immutability rule is not.
		{"include locked", true, map[string]bool{"write": false, "delete": false, "read": false, "release-1": true, "free": false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := remote.NewSourceWith(c, remote.SourceOptions{IncludeLocked: tt.includeLocked})
			tags, err := s.Tags(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, tg := range tags {
				got[tg.Name] = tg.Locked
			}
			for name, want := range tt.tags {
				if got[name] != want {
					t.Errorf("tag %s Locked = %v, want %v", name, got[name], want)
				}
			}
			ms, err := s.Manifests(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if want := m.Digest == pinned && tt.pinned; m.Locked != want {
					t.Errorf("manifest %s Locked = %v, want %v", m.Digest, m.Locked, want)
				}
			}
			// A repository lock is never included.
			fts, err1 := s.Tags(ctx, "frozen")
			fms, err2 := s.Manifests(ctx, "frozen")
			if err1 != nil || err2 != nil || len(fts) != 1 || !fts[0].Locked || len(fms) != 1 || !fms[0].Locked || fms[0].Digest != frozen {
				t.Errorf("frozen: tags %+v, manifests %+v, errors %v %v; want all Locked", fts, fms, err1, err2)
			}
		})
	}

	// Without IncludeLocked the server still refuses: the lock stays.
	plain := remote.NewSource(c)
	if err := plain.DeleteTag(ctx, "app", "delete"); err == nil || !strings.Contains(err.Error(), "delete-enabled=false") {
		t.Errorf("DeleteTag of a locked tag = %v, want the server's 403", err)
	}
	// With it, the planned item's own lock is cleared, then it goes.
	incl := remote.NewSourceWith(c, remote.SourceOptions{IncludeLocked: true})
	if _, err := incl.Tags(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := incl.DeleteTag(ctx, "app", "delete"); err != nil {
		t.Fatalf("DeleteTag with IncludeLocked: %v", err)
	}
	if err := incl.DeleteManifest(ctx, "app", pinned); err != nil {
		t.Fatalf("DeleteManifest with IncludeLocked: %v", err)
	}
	if _, err := incl.Tag(ctx, "app", "delete"); !isNotFound(err) {
		t.Errorf("tag after delete: %v, want not found", err)
	}
	locks, err := c.Locks(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locks {
		if l.Tag == "delete" || l.Digest == pinned {
			t.Errorf("lock %+v left after its item was deleted", l)
		}
	}
	if len(locks) != 2 {
		t.Errorf("locks of app = %+v, want the write and read tag locks untouched", locks)
	}
	// An immutable tag is refused even with IncludeLocked: rules are not cleared.
	if err := incl.DeleteTag(ctx, "app", "release-1"); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("DeleteTag of an immutable tag = %v, want the server's 403", err)
	}
}

func isNotFound(err error) bool { return errors.Is(err, retention.ErrNotFound) }
