package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Manifest is one entry of GET /api/v1/repositories/{name}/manifests.
type Manifest struct {
	Digest       string `json:"digest"`
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType,omitempty"`
	// Size is the manifest's own size, without the blobs it references.
	Size     int64    `json:"size"`
	Subject  string   `json:"subject,omitempty"`
	Children []string `json:"children,omitempty"`
	Blobs    []Blob   `json:"blobs,omitempty"`
	// Tags is empty, never null, for an untagged manifest.
	Tags   []string  `json:"tags"`
	Pushed time.Time `json:"pushed"`
	// LastPulled is null if the manifest was never pulled.
	LastPulled *time.Time `json:"lastPulled"`
}

// Blob is a config or layer a manifest references.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// ManifestList is the body of GET /api/v1/repositories/{name}/manifests:
// every manifest, tagged or not, which the OCI API cannot list.
type ManifestList struct {
	Repository string     `json:"repository"`
	Manifests  []Manifest `json:"manifests"`
	Next       string     `json:"next,omitempty"`
}

func (a *API) listManifests(w http.ResponseWriter, r *http.Request, name string) error {
	if !oci.ValidName(name) {
		return oci.Errorf(oci.CodeNameInvalid, "invalid repository name")
	}
	q := r.URL.Query()
	n, err := a.pageSize(q)
	if err != nil {
		return err
	}
	last := q.Get("last")
	if last != "" {
		if _, err := oci.ParseDigest(last); err != nil {
			return badParam("last: invalid digest")
		}
	}
	ms, err := a.store.ListManifests(r.Context(), name, metadata.Page{Last: last, N: n + 1})
	if errors.Is(err, metadata.ErrRepoNotFound) {
		return oci.Errorf(oci.CodeNameUnknown, "repository %s not known", name).Wrap(err)
	}
	if err != nil {
		return oci.AsError(err)
	}
	out := ManifestList{Repository: name, Manifests: make([]Manifest, 0, min(len(ms), n))}
	for i, m := range ms {
		if i == n {
			out.Next = nextURL(r.URL, n, out.Manifests[n-1].Digest)
			break
		}
		out.Manifests = append(out.Manifests, manifestOf(m))
	}
	return writeJSON(w, r, out)
}

func manifestOf(m metadata.ManifestInfo) Manifest {
	out := Manifest{
		Digest: m.Digest.String(), MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: m.Size,
		Subject: m.Subject.String(), Tags: m.Tags, Pushed: m.PushedAt.UTC(),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	for _, c := range m.Children {
		out.Children = append(out.Children, c.String())
	}
	for _, b := range m.Blobs {
		out.Blobs = append(out.Blobs, Blob{Digest: b.Digest.String(), Size: b.Size})
	}
	if !m.LastPulledAt.IsZero() {
		lp := m.LastPulledAt.UTC()
		out.LastPulled = &lp
	}
	return out
}
