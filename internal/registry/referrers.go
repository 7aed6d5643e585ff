package registry

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// referrersIndex is the answer of the referrers API: an OCI image index.
type referrersIndex struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType"`
	Manifests     []metadata.Descriptor `json:"manifests"`
}

// getReferrers serves GET /v2/<name>/referrers/<digest>?artifactType=.
// An unknown subject or repository has no referrers: an empty index, 200.
func (r *Registry) getReferrers(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	at := req.URL.Query().Get("artifactType")
	if len(at) > 255 {
		return oci.Errorf(oci.CodeUnsupported, "artifactType too long").WithStatus(http.StatusBadRequest)
	}
	descs, err := r.opts.Meta.Referrers(req.Context(), rt.name, d, at)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) && !errors.Is(err, metadata.ErrRepoNotFound) {
		return err
	}
	if descs == nil {
		descs = []metadata.Descriptor{}
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeListingAs(w, req, oci.MediaTypeImageIndex, referrersIndex{
		SchemaVersion: 2,
		MediaType:     oci.MediaTypeImageIndex,
		Manifests:     descs,
	})
}
