package artifact_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/scan/vulndb/artifact"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// A mirrored Trivy database artifact (the layout of
// ghcr.io/aquasecurity/trivy-db:2) pulls as trivy-db.tar.gz; other layers
// are ignored, and a second pull of the same digest fetches nothing.
func TestPullTrivyArtifact(t *testing.T) {
	ctx := t.Context()
	s := servertest.Start(t, servertest.Config(t))
	ref := strings.TrimPrefix(s.URL(), "http://") + "/aquasecurity/trivy-db:2"
	tg, err := artifact.Open(ctx, "oci://"+ref, artifact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	layer := bytes.Repeat([]byte("trivy layer "), 1000)
	lp := filepath.Join(t.TempDir(), "db.tar.gz")
	os.WriteFile(lp, layer, 0o600)
	ld, size, err := tg.Client.PushBlobFile(ctx, tg.Repo, lp)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tg.Client.PushBlob(ctx, tg.Repo, []byte("readme"))
	cfg, _ := tg.Client.PushBlob(ctx, tg.Repo, []byte("{}"))
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.aquasec.trivy.config.v1+json",
		Config: v1.Descriptor{MediaType: oci.MediaTypeEmptyJSON, Digest: cfg, Size: 2},
		Layers: []v1.Descriptor{
			{MediaType: "text/plain", Digest: other, Size: 6},
			{MediaType: artifact.LayerTrivyDB, Digest: ld, Size: size},
		}}
	m.SchemaVersion = 2
	body, _ := json.Marshal(m)
	if _, err := tg.Client.PushManifest(ctx, tg.Repo, "2", v1.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for range 2 {
		files, _, err := artifact.Pull(ctx, tg, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || filepath.Base(files[0]) != artifact.TrivyDBFile {
			t.Fatalf("pulled %v, want one %s", files, artifact.TrivyDBFile)
		}
		if got, _ := os.ReadFile(files[0]); !bytes.Equal(got, layer) {
			t.Fatal("the pulled layer differs from the pushed one")
		}
	}
	if _, err := artifact.Open(ctx, "oci://not-a-registry", artifact.Options{}); err == nil {
		t.Error("a reference without a repository opened")
	}
}
