package remote

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseImageRef(t *testing.T) {
	dg := digest.FromString("x")
	for _, tt := range []struct {
		in   string
		want ImageRef
		bad  bool
	}{
		{in: "myreg.azurecr.io/team/app:v1", want: ImageRef{"https://myreg.azurecr.io", "team/app", "v1"}},
		{in: "http://127.0.0.1:5000/app", want: ImageRef{"http://127.0.0.1:5000", "app", ""}},
		{in: "127.0.0.1:5000/a/b@" + dg.String(), want: ImageRef{"https://127.0.0.1:5000", "a/b", dg.String()}},
		{in: "https://h/app:v1/", want: ImageRef{"https://h", "app", "v1"}},
		{in: "ftp://h/app:v1", bad: true},
		{in: "h", bad: true},
		{in: "h/", bad: true},
		{in: "user@h/app:v1", bad: true},
		{in: "h/App:v1", bad: true},
		{in: "h/app:-bad", bad: true},
		{in: "h/app@sha256:short", bad: true},
	} {
		got, err := ParseImageRef(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("ParseImageRef(%q) = %+v, %v; want %+v (error %t)", tt.in, got, err, tt.want, tt.bad)
		}
		if again, err := ParseImageRef(got.String()); !tt.bad && (err != nil || again != got) {
			t.Errorf("%q: String() %q parses back as %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestVerifyingReader(t *testing.T) {
	body := []byte("the blob")
	d := digest.FromBytes(body)
	for _, tt := range []struct {
		name    string
		src     []byte
		size    int64
		corrupt bool // errCorruptBlob: not worth retrying
		short   bool
	}{
		{name: "exact", src: body, size: int64(len(body))},
		{name: "other bytes", src: []byte("the blub"), size: int64(len(body)), corrupt: true},
		{name: "longer", src: append(body, '!'), size: int64(len(body)), corrupt: true},
		{name: "cut short", src: body[:4], size: int64(len(body)), short: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vr := &verifyingReader{r: bytes.NewReader(tt.src), d: d, h: d.Algorithm().Hash(), left: tt.size}
			_, err := io.Copy(io.Discard, vr)
			switch {
			case tt.corrupt && !errors.Is(err, errCorruptBlob):
				t.Errorf("err = %v, want a corrupt blob", err)
			case tt.short && (!errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errCorruptBlob)):
				t.Errorf("err = %v, want a retryable short read", err)
			case !tt.corrupt && !tt.short && err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestManifestType(t *testing.T) {
	for _, tt := range []struct{ header, body, want string }{
		{"application/vnd.oci.image.index.v1+json", `{}`, "application/vnd.oci.image.index.v1+json"},
		{"text/plain", `{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}`, "application/vnd.docker.distribution.manifest.v2+json"},
		{"", `{"manifests":[]}`, "application/vnd.oci.image.index.v1+json"},
		{"", `{"config":{}}`, "application/vnd.oci.image.manifest.v1+json"},
	} {
		if got := manifestType(tt.header, []byte(tt.body)); got != tt.want {
			t.Errorf("manifestType(%q, %s) = %q, want %q", tt.header, tt.body, got, tt.want)
		}
	}
}

// TestMountScope: a cross-repository mount asks for pull on the source
// repository too, or the registry answers the mount with a plain upload.
func TestMountScope(t *testing.T) {
	for _, tt := range []struct{ method, path, want string }{
		{"POST", "/v2/mirror/app/blobs/uploads/", "repository:mirror/app:pull,push"},
		{"POST", "/v2/mirror/app/blobs/uploads/?mount=sha256:ab&from=team/app", "repository:mirror/app:pull,push repository:team/app:pull"},
		{"POST", "/v2/app/blobs/uploads/?mount=sha256:ab&from=app", "repository:app:pull,push"},
		{"POST", "/v2/app/blobs/uploads/?mount=sha256:ab&from=Bad%20Name", "repository:app:pull,push"},
		{"PUT", "/v2/app/blobs/uploads/x?digest=sha256:ab", "repository:app:pull,push"},
		{"HEAD", "/v2/app/blobs/sha256:ab?mount=x&from=other", "repository:app:pull"},
	} {
		if got := scopeFor(tt.method, tt.path); got != tt.want {
			t.Errorf("scopeFor(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
