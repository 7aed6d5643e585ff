package registry

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

func TestTagsAndCatalog(t *testing.T) {
	env := newEnv(t, Options{MaxPageSize: 3})
	body := env.testImage("lib/app", "")
	for _, tag := range []string{"a", "b", "c", "d", "e"} {
		env.pushManifest("lib/app", tag, oci.MediaTypeImageManifest, body)
	}
	env.pushBlob("zz", []byte("only a blob"))
	tests := []struct {
		name     string
		path     string
		status   int
		want     []string
		wantLink string
		code     oci.Code
	}{
		{"first page", "/v2/lib/app/tags/list?n=2", 200, []string{"a", "b"}, `</v2/lib/app/tags/list?last=b&n=2>; rel="next"`, ""},
		{"after last", "/v2/lib/app/tags/list?n=2&last=b", 200, []string{"c", "d"}, `</v2/lib/app/tags/list?last=d&n=2>; rel="next"`, ""},
		{"last page", "/v2/lib/app/tags/list?last=d", 200, []string{"e"}, "", ""},
		{"n capped", "/v2/lib/app/tags/list?n=100", 200, []string{"a", "b", "c"}, `</v2/lib/app/tags/list?last=c&n=3>; rel="next"`, ""},
		{"n zero", "/v2/lib/app/tags/list?n=0", 200, []string{}, "", ""},
		{"bad n", "/v2/lib/app/tags/list?n=x", 400, nil, "", oci.CodeUnsupported},
		{"negative n", "/v2/lib/app/tags/list?n=-1", 400, nil, "", oci.CodeUnsupported},
		{"unknown repository", "/v2/nope/tags/list", 404, nil, "", oci.CodeNameUnknown},
		{"catalog", "/v2/_catalog?n=1", 200, []string{"lib/app"}, `</v2/_catalog?last=lib%2Fapp&n=1>; rel="next"`, ""},
		{"catalog after", "/v2/_catalog?last=lib/app", 200, []string{"zz"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(http.MethodGet, tt.path, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if errCode(t, r.body) != string(tt.code) {
					t.Fatalf("code %q, want %s", errCode(t, r.body), tt.code)
				}
				return
			}
			var got struct {
				Name         string   `json:"name"`
				Tags         []string `json:"tags"`
				Repositories []string `json:"repositories"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("decoding %s: %v", r.body, err)
			}
			list := got.Tags
			if list == nil {
				list = got.Repositories
			}
			if list == nil || !slices.Equal(list, tt.want) {
				t.Fatalf("listed %q (from %s), want %q", list, r.body, tt.want)
			}
			if r.header.Get("Link") != tt.wantLink {
				t.Fatalf("Link %q, want %q", r.header.Get("Link"), tt.wantLink)
			}
		})
	}
}

func TestBase(t *testing.T) {
	env := newEnv(t, Options{})
	r := env.do(http.MethodGet, "/v2/", nil)
	if r.status != 200 || string(r.body) != "{}" || r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: status %d body %q headers %v", r.status, r.body, r.header)
	}
}

func TestReferrers(t *testing.T) {
	env := newEnv(t, Options{})
	subject := env.testImage("r", "")
	sd := digest.FromBytes(subject)
	env.pushManifest("r", sd.String(), oci.MediaTypeImageManifest, subject)
	subj := `,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sd.String() + `","size":1}`
	sig := env.testImage("r", subj+`,"artifactType":"application/x.sig","annotations":{"k":"v"}`)
	sbom := env.testImage("r", subj) // no artifactType: the config media type stands in
	env.pushManifest("r", digest.FromBytes(sig).String(), oci.MediaTypeImageManifest, sig)
	env.pushManifest("r", digest.FromBytes(sbom).String(), oci.MediaTypeImageManifest, sbom)

	tests := []struct {
		name, query, subject string
		wantTypes            []string
		filtered             bool
	}{
		{"all", "", sd.String(), []string{"application/vnd.oci.image.config.v1+json", "application/x.sig"}, false},
		{"filtered", "?artifactType=application/x.sig", sd.String(), []string{"application/x.sig"}, true},
		{"unknown subject", "", digest.FromString("none").String(), []string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(http.MethodGet, "/v2/r/referrers/"+tt.subject+tt.query, nil)
			if r.status != 200 || r.header.Get("Content-Type") != oci.MediaTypeImageIndex {
				t.Fatalf("status %d type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			if (r.header.Get("OCI-Filters-Applied") == "artifactType") != tt.filtered {
				t.Fatalf("OCI-Filters-Applied %q", r.header.Get("OCI-Filters-Applied"))
			}
			var idx struct {
				SchemaVersion int    `json:"schemaVersion"`
				MediaType     string `json:"mediaType"`
				Manifests     []struct {
					ArtifactType string            `json:"artifactType"`
					Digest       digest.Digest     `json:"digest"`
					Annotations  map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			if err := json.Unmarshal(r.body, &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != oci.MediaTypeImageIndex || idx.Manifests == nil {
				t.Fatalf("not an index: %s (%v)", r.body, err)
			}
			types := []string{}
			for _, m := range idx.Manifests {
				types = append(types, m.ArtifactType)
				if m.ArtifactType == "application/x.sig" && (m.Digest != digest.FromBytes(sig) || m.Annotations["k"] != "v") {
					t.Errorf("signature descriptor %+v", m)
				}
			}
			slices.Sort(types)
			if !slices.Equal(types, tt.wantTypes) {
				t.Fatalf("artifact types %q, want %q", types, tt.wantTypes)
			}
		})
	}
	if r := env.do(http.MethodGet, "/v2/r/referrers/sha256:bad", nil); r.status != 400 || errCode(t, r.body) != string(oci.CodeDigestInvalid) {
		t.Fatalf("invalid subject digest: status %d %s", r.status, r.body)
	}
}
