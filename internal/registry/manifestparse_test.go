package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

var (
	dA = digest.FromString("a")
	dB = digest.FromString("b")
	dC = digest.FromString("c")
)

func desc(mt string, d digest.Digest, extra string) string {
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":1%s}`, mt, d, extra)
}

func TestParseManifest(t *testing.T) {
	const (
		cfg   = "application/vnd.oci.image.config.v1+json"
		layer = "application/vnd.oci.image.layer.v1.tar+gzip"
		ndl   = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	)
	image := func(extra string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` +
			desc(cfg, dA, "") + `,"layers":[` + desc(layer, dB, "") + `]` + extra + `}`
	}
	tests := []struct {
		name         string
		body         string
		contentType  string
		wantType     string
		wantArtifact string
		wantBlobs    []digest.Digest
		wantChildren []digest.Digest
		wantSubject  digest.Digest
		wantErr      bool
	}{
		{name: "image", body: image(""), contentType: oci.MediaTypeImageManifest,
			wantType: oci.MediaTypeImageManifest, wantArtifact: cfg, wantBlobs: []digest.Digest{dA, dB}},
		{name: "artifactType wins over config", body: image(`,"artifactType":"application/x.sbom"`),
			wantType: oci.MediaTypeImageManifest, wantArtifact: "application/x.sbom", wantBlobs: []digest.Digest{dA, dB}},
		{name: "subject", body: image(`,"subject":` + desc(oci.MediaTypeImageManifest, dC, "")),
			wantType: oci.MediaTypeImageManifest, wantArtifact: cfg, wantBlobs: []digest.Digest{dA, dB}, wantSubject: dC},
		{name: "no mediaType takes Content-Type",
			body:        `{"schemaVersion":2,"config":` + desc(cfg, dA, "") + `,"layers":[]}`,
			contentType: oci.MediaTypeImageManifest + "; charset=utf-8", wantType: oci.MediaTypeImageManifest,
			wantArtifact: cfg, wantBlobs: []digest.Digest{dA}},
		{name: "no mediaType nor Content-Type guesses index",
			body:     `{"schemaVersion":2,"manifests":[` + desc(oci.MediaTypeImageManifest, dA, "") + `]}`,
			wantType: oci.MediaTypeImageIndex, wantChildren: []digest.Digest{dA}},
		{name: "non-distributable and urls layers are skipped",
			body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + desc(cfg, dA, "") +
				`,"layers":[` + desc(ndl, dB, "") + `,` + desc(layer, dC, `,"urls":["https://example.com/x"]`) + `]}`,
			wantType: oci.MediaTypeImageManifest, wantArtifact: cfg, wantBlobs: []digest.Digest{dA}},
		{name: "docker schema2", body: `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":` +
			desc("application/vnd.docker.container.image.v1+json", dA, "") + `,"layers":[]}`,
			contentType: oci.MediaTypeDockerV2, wantType: oci.MediaTypeDockerV2, wantBlobs: []digest.Digest{dA}},
		{name: "index with artifactType", body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x.t","manifests":[` +
			desc(oci.MediaTypeImageManifest, dA, "") + `,` + desc(oci.MediaTypeImageIndex, dB, "") + `]}`,
			wantType: oci.MediaTypeImageIndex, wantArtifact: "application/x.t", wantChildren: []digest.Digest{dA, dB}},
		{name: "data field matching", body: `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
			digest.FromString("{}").String() + `","size":2,"data":"e30="},"layers":[]}`,
			wantType: oci.MediaTypeImageManifest, wantArtifact: oci.MediaTypeEmptyJSON, wantBlobs: []digest.Digest{digest.FromString("{}")}},
		{name: "data field mismatching", body: `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
			dA.String() + `","size":2,"data":"e30="},"layers":[]}`, wantErr: true},
		{name: "Content-Type disagrees", body: image(""), contentType: oci.MediaTypeImageIndex, wantErr: true},
		{name: "unsupported mediaType", body: `{"schemaVersion":2,"mediaType":"text/plain","config":` + desc(cfg, dA, "") + `}`, wantErr: true},
		{name: "schema 1", body: `{"schemaVersion":1,"name":"x"}`, wantErr: true},
		{name: "no schemaVersion", body: `{"config":` + desc(cfg, dA, "") + `}`, wantErr: true},
		{name: "not JSON", body: `not json`, wantErr: true},
		{name: "trailing JSON", body: image("") + `{}`, wantErr: true},
		{name: "no config", body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, wantErr: true},
		{name: "bad layer digest", body: `{"schemaVersion":2,"config":` + desc(cfg, dA, "") + `,"layers":[{"mediaType":"x","digest":"sha256:zz","size":1}]}`, wantErr: true},
		{name: "md5 digest", body: `{"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:d41d8cd98f00b204e9800998ecf8427e","size":1}}`, wantErr: true},
		{name: "negative size", body: `{"schemaVersion":2,"config":{"mediaType":"x","digest":"` + dA.String() + `","size":-1}}`, wantErr: true},
		{name: "index with layers", body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]}`, wantErr: true},
		{name: "image with manifests", body: image(`,"manifests":[]`), wantErr: true},
		{name: "bad subject", body: image(`,"subject":{"mediaType":"x","digest":"nope","size":1}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseManifest([]byte(tt.body), tt.contentType)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseManifest accepted %s", tt.body)
				}
				if e := toOCI(err); e.Code != oci.CodeManifestInvalid {
					t.Fatalf("error code %s, want MANIFEST_INVALID", e.Code)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseManifest: %v", err)
			}
			if p.mediaType != tt.wantType || p.artifactType != tt.wantArtifact || p.subject != tt.wantSubject {
				t.Errorf("got type %q artifact %q subject %q, want %q %q %q",
					p.mediaType, p.artifactType, p.subject, tt.wantType, tt.wantArtifact, tt.wantSubject)
			}
			if !slices.Equal(p.blobs, tt.wantBlobs) || !slices.Equal(p.children, tt.wantChildren) {
				t.Errorf("got blobs %v children %v, want %v %v", p.blobs, p.children, tt.wantBlobs, tt.wantChildren)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"config":`+desc("a/b", dA, "")+`,"layers":[`+desc("c/d", dB, `,"urls":["x"]`)+`]}`), "")
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+desc("a/b", dA, "")+`]}`), oci.MediaTypeImageIndex)
	f.Add([]byte(`{"schemaVersion":2,"subject":`+desc("a/b", dC, `,"data":"YQ=="`)+`}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		p, err := parseManifest(body, contentType)
		if err != nil {
			if e := toOCI(err); e.Code != oci.CodeManifestInvalid {
				t.Fatalf("error code %s for bad input", e.Code)
			}
			return
		}
		if !oci.IsManifest(p.mediaType) {
			t.Fatalf("accepted media type %q", p.mediaType)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, d := range slices.Concat(p.blobs, p.children) {
			if _, err := oci.ParseDigest(d.String()); err != nil {
				t.Fatalf("accepted reference %q: %v", d, err)
			}
		}
		if oci.IsIndex(p.mediaType) && len(p.blobs) > 0 {
			t.Fatalf("index with blobs %v", p.blobs)
		}
		if !oci.IsIndex(p.mediaType) && len(p.children) > 0 {
			t.Fatalf("image with children %v", p.children)
		}
	})
}
