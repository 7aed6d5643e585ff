package oci

import (
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types Berth understands as manifests. OCI types come from
// image-spec; Docker's are not exported by any small module, so they live here.
const (
	MediaTypeImageManifest = v1.MediaTypeImageManifest
	MediaTypeImageIndex    = v1.MediaTypeImageIndex
	MediaTypeDockerV2      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeEmptyJSON     = v1.MediaTypeEmptyJSON
)

// IsManifest reports whether mt is a manifest media type Berth stores.
func IsManifest(mt string) bool {
	switch mt {
	case MediaTypeImageManifest, MediaTypeImageIndex, MediaTypeDockerV2, MediaTypeDockerList:
		return true
	}
	return false
}

// IsIndex reports whether mt is a manifest of manifests.
func IsIndex(mt string) bool {
	return mt == MediaTypeImageIndex || mt == MediaTypeDockerList
}
