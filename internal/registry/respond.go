package registry

import (
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// writeJSON answers with body and its exact length; HEAD gets the headers only.
func writeJSON(w http.ResponseWriter, req *http.Request, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeEmpty answers with status and no body.
func writeEmpty(w http.ResponseWriter, status int) {
	if status != http.StatusNoContent {
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
}

// parseDigest validates a digest from a path or query, as DIGEST_INVALID.
func parseDigest(s string) (digest.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", oci.Errorf(oci.CodeDigestInvalid, "invalid digest %.150q", s).Wrap(err)
	}
	return d, nil
}

// blobLocation is where a committed blob of name can be fetched.
func blobLocation(name string, d digest.Digest) string {
	return "/v2/" + name + "/blobs/" + d.String()
}
