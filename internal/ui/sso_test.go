package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// TestSSOLink: with OIDC configured the sign-in page offers it; the OIDC
// callback then starts the session with Sessions().Start.
func TestSSOLink(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.NewAuthenticator(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(Options{Store: db, Blobs: blobs, Auth: auth, SSOLoginURL: "/auth/oidc/login"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/signin", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `<a href="/auth/oidc/login">Sign in with SSO</a>`) {
		t.Errorf("sign-in page = %d, want the SSO link:\n%s", rec.Code, body)
	}
}
