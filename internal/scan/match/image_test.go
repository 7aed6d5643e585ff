package match

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/opencontainers/go-digest"
)

// tarLayer is an uncompressed layer held in memory.
type tarLayer struct{ blob []byte }

func (l tarLayer) MediaType() string     { return "application/vnd.oci.image.layer.v1.tar" }
func (l tarLayer) Digest() digest.Digest { return digest.FromBytes(l.blob) }
func (l tarLayer) Open(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

// buildOldGoBinary builds, at test time, a program that links old versions
// of golang.org/x/text, gopkg.in/yaml.v2 and github.com/tidwall/gjson
// (fetched through the module proxy), as the scanning issue asks.
func buildOldGoBinary(t *testing.T) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/oldapp\n\ngo 1.21\n\nrequire (\n" +
			"\tgolang.org/x/text v0.3.0\n\tgopkg.in/yaml.v2 v2.2.2\n\tgithub.com/tidwall/gjson v1.6.0\n)\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/tidwall/gjson\"\n" +
			"\t\"golang.org/x/text/language\"\n\t\"gopkg.in/yaml.v2\"\n)\n\n" +
			"func main() {\n\tb, _ := yaml.Marshal(1)\n\tfmt.Println(language.English, gjson.Get(`{}`, \"a\"), b)\n}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	dl := exec.Command(goBin, "mod", "download", "golang.org/x/text", "gopkg.in/yaml.v2", "github.com/tidwall/gjson")
	dl.Dir, dl.Env = dir, env
	if out, err := dl.CombinedOutput(); err != nil {
		t.Skipf("old modules not downloadable here (offline?): %v\n%s", err, out)
	}
	build := exec.Command(goBin, "build", "-trimpath", "-o", "oldapp", ".")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "oldapp"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestGoBinaryInImage runs the whole path: a real Go binary in an image
// layer, inventoried, matched against the real Go advisories.
func TestGoBinaryInImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	bin := buildOldGoBinary(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/oldapp", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer := tarLayer{buf.Bytes()}
	in, err := inventory.Read(context.Background(), []inventory.Layer{layer}, inventory.Options{ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != inventory.StatusComplete {
		t.Fatalf("inventory %s: %v", in.Status, in.Reasons)
	}
	r := Run(in, goDB(t))
	// The toolchain building this test is far newer than GO-2022-0229's
	// fixes, so stdlib must not appear.
	check(t, r.Findings, []string{
		"GO-2020-0015 golang.org/x/text@v0.3.0 fixed=0.3.3 fixed",
		"GO-2021-0113 golang.org/x/text@v0.3.0 fixed=0.3.7 fixed",
		"GO-2022-0956 gopkg.in/yaml.v2@v2.2.2 fixed=2.2.4 fixed",
		"GO-2021-0054 github.com/tidwall/gjson@v1.6.0 fixed=1.6.6 fixed",
		"GO-2021-0059 github.com/tidwall/gjson@v1.6.0 fixed=1.6.4 fixed",
		"GO-2021-0265 github.com/tidwall/gjson@v1.6.0 fixed=1.9.3 fixed",
	})
	for _, f := range r.Findings {
		if f.Layer != string(layer.Digest()) || f.Path != "usr/local/bin/oldapp" {
			t.Fatalf("finding not traced to its layer and file: %+v", f)
		}
	}
}
