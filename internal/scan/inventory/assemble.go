package inventory

import (
	"cmp"
	"slices"

	"github.com/opencontainers/go-digest"
)

// inventory assembles the result from the records that survived every
// layer's whiteouts.
func (w *walker) inventory(layers []Layer) *Inventory {
	inv := &Inventory{Packages: []Package{}}
	// os-release(5): /etc/os-release wins, /usr/lib/os-release is the
	// fallback.
	for _, p := range []string{"usr/lib/os-release", "etc/os-release"} {
		if rec, ok := w.records[p]; ok && rec.os != nil {
			inv.OS = *rec.os
		}
	}
	// Digest may be computed by the caller's Layer; ask once per layer.
	digests := make([]digest.Digest, len(layers))
	for i, l := range layers {
		digests[i] = l.Digest()
	}
	inv.Reasons = append(inv.Reasons, w.reasons...)
	for _, p := range w.sortedPaths() {
		rec := w.records[p]
		inv.Reasons = append(inv.Reasons, rec.reasons...)
		for _, pkg := range rec.pkgs {
			pkg.Layer = digests[rec.layer]
			pkg.PURL = purl(pkg, inv.OS)
			inv.Packages = append(inv.Packages, pkg)
		}
	}
	slices.SortStableFunc(inv.Packages, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Ecosystem, b.Ecosystem), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.Path, b.Path))
	})
	inv.Status = StatusComplete
	if len(inv.Reasons) > 0 {
		inv.Status = StatusPartial
	}
	return inv
}
