package server

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		path string
		want route
	}{
		{"/v2", routeBase},
		{"/v2/", routeBase},
		{"/v2/_catalog", routeCatalog},
		{"/v2/library/alpine/tags/list", routeTags},
		{"/v2/library/alpine/manifests/latest", routeManifest},
		{"/v2/a/manifests/sha256:abc", routeManifest},
		{"/v2/a/blobs/sha256:abc", routeBlob},
		{"/v2/a/blobs/uploads/", routeBlobUpload},
		{"/v2/a/blobs/uploads", routeBlobUpload},
		{"/v2/a/blobs/uploads/0b5e-uuid", routeBlobUpload},
		{"/v2/a/referrers/sha256:abc", routeReferrers},
		// Keywords as repository components are read from the right.
		{"/v2/blobs/uploads/manifests/v1", routeManifest},
		{"/v2/manifests/blobs/sha256:abc", routeBlob},
		{"/v2/tags/list/blobs/uploads/x", routeBlobUpload},
		{"/v2/a", routeOther},
		{"/v2/a/unknown/x", routeOther},
		{"/v2x", routeOther},
		{"/api/v1/repositories", routeAPI},
		{"/api/v2/x", routeOther},
		{"/healthz", routeHealth},
		{"/readyz", routeHealth},
		{"/metrics", routeMetrics},
		{"/", routeUI},
		{"/ui", routeUI},
		{"/ui/repositories/a/b", routeUI},
		{"/uix", routeOther},
		{"", routeOther},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := classify(tt.path); got != tt.want {
				t.Errorf("classify(%q) = %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	var got route
	allocs := testing.AllocsPerRun(100, func() { got = classify("/v2/library/alpine/manifests/latest") })
	if got != routeManifest {
		t.Fatalf("classify = %s", got)
	}
	if allocs != 0 {
		t.Errorf("classify allocates %v times per call", allocs)
	}
}

func BenchmarkClassify(b *testing.B) {
	var got route
	for b.Loop() {
		got = classify("/v2/library/alpine/manifests/latest")
	}
	if got != routeManifest {
		b.Fatalf("classify = %s", got)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/blobs/uploads/x", "/v2/a/manifests/b", "/api/v1/x", "/v2//", "/v2/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := classify(path)
		if rt >= numRoutes {
			t.Fatalf("classify(%q) = %d, out of range", path, rt)
		}
		if rt.registry() && len(path) < 3 {
			t.Fatalf("classify(%q) = %s for a non-/v2 path", path, rt)
		}
	})
}
