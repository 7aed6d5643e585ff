package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenArchive feeds arbitrary bytes as a docker save tarball: Open may
// fail, never panic, and a layer it returns must read within its bounds.
func FuzzOpenArchive(f *testing.F) {
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "x.tar")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		im, err := Open(context.Background(), "docker-archive:"+p, Options{})
		if err != nil {
			return
		}
		im.Close()
	})
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5000/a/b:v1", "alpine", "h.io/a@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err == nil && (r.Host == "" || r.Repo == "" || (r.Tag == "" && r.Digest == "")) {
			t.Fatalf("%q parsed to %+v", s, r)
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`realm="https://auth.example/token",service="reg",scope="repository:a:pull"`)
	f.Fuzz(func(t *testing.T, s string) { parseChallenge(s) })
}
