package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
)

// rawManifest is the union of an OCI image manifest, an OCI index and their
// Docker schema 2 twins, which share the same JSON shape. Pointers tell an
// absent field from an empty one.
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// parsedManifest is what the registry needs to know of a manifest to store
// and validate it.
type parsedManifest struct {
	mediaType    string
	artifactType string
	subject      digest.Digest
	annotations  map[string]string
	// blobs must be in the repository: the config and distributable layers.
	blobs []digest.Digest
	// children are the manifests an index points at.
	children []digest.Digest
}

// parseManifest parses and validates a manifest body pushed with the given
// Content-Type. Every error is MANIFEST_INVALID.
func parseManifest(body []byte, contentType string) (*parsedManifest, error) {
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, manifestInvalid("not a JSON manifest: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, manifestInvalid("trailing data after the manifest")
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, manifestInvalid("schemaVersion must be 2")
	}
	mt, err := manifestMediaType(&raw, contentType)
	if err != nil {
		return nil, err
	}
	p := &parsedManifest{mediaType: mt, artifactType: raw.ArtifactType, annotations: raw.Annotations}
	if raw.Subject != nil {
		if err := checkDescriptor("subject", raw.Subject); err != nil {
			return nil, err
		}
		p.subject = raw.Subject.Digest
	}
	if oci.IsIndex(mt) {
		if raw.Config != nil || raw.Layers != nil {
			return nil, manifestInvalid("an index has no config or layers")
		}
		for i := range raw.Manifests {
			if err := checkDescriptor("manifests", &raw.Manifests[i]); err != nil {
				return nil, err
			}
			p.children = append(p.children, raw.Manifests[i].Digest)
		}
		return p, nil
	}
	if raw.Manifests != nil {
		return nil, manifestInvalid("an image manifest has no manifests list")
	}
	if raw.Config == nil {
		return nil, manifestInvalid("config is required")
	}
	if err := checkDescriptor("config", raw.Config); err != nil {
		return nil, err
	}
	p.blobs = append(p.blobs, raw.Config.Digest)
	for i := range raw.Layers {
		l := &raw.Layers[i]
		if err := checkDescriptor("layers", l); err != nil {
			return nil, err
		}
		if len(l.URLs) > 0 || nonDistributable(l.MediaType) {
			continue // fetched from elsewhere: the registry never holds it
		}
		p.blobs = append(p.blobs, l.Digest)
	}
	// The referrers API reports the config media type for an image manifest
	// without an artifactType (distribution-spec, "Listing Referrers").
	if p.artifactType == "" && mt == oci.MediaTypeImageManifest {
		p.artifactType = raw.Config.MediaType
	}
	return p, nil
}

// manifestMediaType decides the media type of a manifest: its mediaType
// field, which must agree with the Content-Type when both are given, else
// the Content-Type, else what the shape of the document says.
func manifestMediaType(raw *rawManifest, contentType string) (string, error) {
	ct := ""
	if contentType != "" {
		if parsed, _, err := mime.ParseMediaType(contentType); err == nil {
			ct = parsed
		}
	}
	mt := raw.MediaType
	switch {
	case mt != "":
		if oci.IsManifest(ct) && ct != mt {
			return "", manifestInvalid("Content-Type %.100q does not match mediaType %.100q", ct, mt)
		}
	case oci.IsManifest(ct):
		mt = ct
	case raw.Manifests != nil:
		mt = oci.MediaTypeImageIndex
	default:
		mt = oci.MediaTypeImageManifest
	}
	if !oci.IsManifest(mt) {
		return "", manifestInvalid("unsupported manifest media type %.100q", mt)
	}
	return mt, nil
}

// checkDescriptor validates the parts of a descriptor the registry relies
// on, including an embedded data field, which must match the digest.
func checkDescriptor(field string, d *v1.Descriptor) error {
	if _, err := oci.ParseDigest(string(d.Digest)); err != nil {
		return manifestInvalid("%s: invalid digest %.150q", field, d.Digest)
	}
	if d.Size < 0 {
		return manifestInvalid("%s: negative size for %s", field, d.Digest)
	}
	if d.MediaType == "" {
		return manifestInvalid("%s: mediaType missing for %s", field, d.Digest)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return manifestInvalid("%s: data does not match %s", field, d.Digest)
		}
	}
	return nil
}

// nonDistributable reports layer types that registries must not require:
// OCI non-distributable layers (deprecated in image-spec 1.1) and Docker
// foreign layers.
func nonDistributable(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.nondistributable.") ||
		strings.HasPrefix(mt, "application/vnd.docker.image.rootfs.foreign.")
}

func manifestInvalid(format string, args ...any) error {
	return oci.Errorf(oci.CodeManifestInvalid, format, args...)
}
