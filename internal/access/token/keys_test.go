package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeySetPersistsAndRotates(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := OpenKeySet(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	first := ks.Keys()
	if len(first) != 1 || !first[0].Signing {
		t.Fatalf("new key set: %+v, want one signing key", first)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, first[0].ID+".pem"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), want)
		}
	}
	is, v := NewIssuer(ks, testIss, testAud), NewVerifier(ks, testIss, testAud)
	old, err := is.Issue("alice", pushPull, time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	rotated, err := ks.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ID == first[0].ID || !rotated.Signing {
		t.Fatalf("rotated to %+v", rotated)
	}
	fresh, err := is.Issue("alice", pushPull, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, fresh) != rotated.ID {
		t.Fatalf("new token signed by %s, want the rotated key %s", kidOf(t, fresh), rotated.ID)
	}
	if _, err := v.Verify(old); err != nil {
		t.Fatalf("token of the previous key refused after rotation: %v", err)
	}

	// A restart sees the same keys and the same signer.
	reopened, err := OpenKeySet(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := reopened.Keys()
	if len(keys) != 2 || keys[0].ID != rotated.ID || !keys[0].Signing || keys[1].ID != first[0].ID || keys[1].Signing {
		t.Fatalf("after reopening: %+v", keys)
	}
	v2 := NewVerifier(reopened, testIss, testAud)
	for _, tok := range []string{old, fresh} {
		if _, err := v2.Verify(tok); err != nil {
			t.Fatalf("reopened set refuses a token: %v", err)
		}
	}

	if err := ks.Remove(ctx, rotated.ID); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Fatalf("removing the signing key: %v", err)
	}
	if err := ks.Remove(ctx, "nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removing an unknown key: %v", err)
	}
	if err := ks.Remove(ctx, first[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(old); err == nil || !strings.Contains(err.Error(), "unknown signing key") {
		t.Fatalf("token of a removed key: %v", err)
	}
	if _, err := v.Verify(fresh); err != nil {
		t.Fatalf("token of the current key after a removal: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, first[0].ID+".pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed key file still there: %v", err)
	}
	if got := len(mustOpen(t, dir).Keys()); got != 1 {
		t.Fatalf("after removal a restart sees %d keys, want 1", got)
	}
}

func TestRotateWithClockBehind(t *testing.T) {
	ks := newKeys(t)
	ks.now = func() time.Time { return time.Unix(0, 0) }
	k, err := ks.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ks.signer().id != k.ID {
		t.Fatal("a key created with the clock behind does not sign")
	}
}

func mustOpen(t *testing.T, dir string) *KeySet {
	t.Helper()
	ks, err := OpenKeySet(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	hb, err := b64.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(hb), `"kid":"`)
	kid, _, _ := strings.Cut(rest, `"`)
	return kid
}

func TestOpenKeySetRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, keyFile string)
		want  string
	}{
		{"key readable by others", func(t *testing.T, dir, keyFile string) {
			chmod(t, keyFile, 0o644)
		}, "accessible by others"},
		{"directory writable by others", func(t *testing.T, dir, keyFile string) {
			chmod(t, dir, 0o777)
		}, "writable by others"},
		{"renamed key", func(t *testing.T, dir, keyFile string) {
			if err := os.Rename(keyFile, filepath.Join(dir, "other.pem")); err != nil {
				t.Fatal(err)
			}
		}, "does not match its key ID"},
		{"not PEM", func(t *testing.T, dir, keyFile string) {
			write(t, keyFile, "hello")
		}, "no PEM"},
		{"huge", func(t *testing.T, dir, keyFile string) {
			write(t, keyFile, strings.Repeat("x", maxKeyFile+1))
		}, "larger than"},
		{"no created header", func(t *testing.T, dir, keyFile string) {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(b), "Created:")
			j := strings.Index(string(b[i:]), "\n\n")
			write(t, keyFile, string(b[:i])+string(b[i+j+2:]))
		}, "header Created"},
		{"wrong key type", func(t *testing.T, dir, keyFile string) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{
				Type: pemType, Headers: map[string]string{headerCreated: "2026-01-01T00:00:00Z"}, Bytes: der,
			})))
		}, "not an Ed25519 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			ks := mustOpen(t, dir)
			tt.setup(t, dir, filepath.Join(dir, ks.Keys()[0].ID+".pem"))
			if _, err := OpenKeySet(ctx, dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenKeySet: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
