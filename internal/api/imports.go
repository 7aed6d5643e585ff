package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// ImportService pulls an image from another registry into this one.
type ImportService interface {
	Import(ctx context.Context, req ImageImportRequest) (*ImageImportResult, error)
}

// ImageImportCredentials are the source registry's credentials. They are used
// for this one import: never stored, never logged, never answered back.
type ImageImportCredentials struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// IdentityToken is an OAuth2 refresh token (docker's identitytoken,
	// an ACR refresh token).
	IdentityToken string `json:"identityToken,omitempty"`
}

// ImageImportRequest is the body of POST /api/v1/import.
type ImageImportRequest struct {
	// Source is REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST;
	// REGISTRY is a URL or a host (https).
	Source string `json:"source"`
	// Target is REPOSITORY[:TAG] on this server; the source's tag when
	// none is given.
	Target string `json:"target"`
	// Referrers also imports signatures, attestations and SBOMs.
	Referrers bool `json:"referrers,omitempty"`
	// Platforms narrows an index, as os/arch[/variant].
	Platforms   []string                `json:"platforms,omitempty"`
	Credentials *ImageImportCredentials `json:"credentials,omitempty"`
}

// ImageImportResult is the answer to POST /api/v1/import.
type ImageImportResult struct {
	Source     string      `json:"source"`
	Repository string      `json:"repository"`
	Tag        string      `json:"tag,omitempty"`
	Digest     string      `json:"digest"`
	Stats      ImportStats `json:"stats"`
	// Scan is where the scan of the imported image (queued like a
	// push's) is read.
	Scan string `json:"scan"`
}

// ImportStats counts what an import moved; the fields of
// remote.CopyStats, which this package does not import (remote's tests
// start servers, which import this package).
type ImportStats struct {
	Manifests        int   `json:"manifests"`
	ManifestsSkipped int   `json:"manifestsSkipped"`
	Blobs            int   `json:"blobs"`
	BlobsMounted     int   `json:"blobsMounted"`
	BlobsSkipped     int   `json:"blobsSkipped"`
	Bytes            int64 `json:"bytes"`
}

// Import serves POST /api/v1/import (docs/fleet.md#importing-into-berth).
type Import struct {
	svc ImportService
	api *API
}

// NewImport returns the import endpoint.
func NewImport(svc ImportService, a *API) *Import { return &Import{svc: svc, api: a} }

const importPath = "import"

// WithImport routes /api/v1/import to h and the rest to next.
func WithImport(next http.Handler, h *Import) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, Prefix) == importPath {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Import) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	var req ImageImportRequest
	if err := decodeBody(r, &req); err != nil {
		h.api.fail(w, r, err)
		return
	}
	if h.svc == nil {
		h.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "this server cannot import").WithStatus(http.StatusNotImplemented))
		return
	}
	if req.Source == "" || req.Target == "" {
		h.api.fail(w, r, badRequest("source and target are required"))
		return
	}
	res, err := h.svc.Import(r.Context(), req)
	if err != nil {
		h.api.fail(w, r, err)
		return
	}
	if err := writeJSONBody(w, http.StatusOK, res); err != nil {
		h.api.fail(w, r, err)
	}
}
