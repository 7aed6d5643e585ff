package fleet

import (
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// Collateral is a tag the plan keeps that deleting another tag would
// delete too, on a registry that can only delete a manifest by digest.
type Collateral struct {
	Repo   string        `json:"repository"`
	Tag    string        `json:"tag"`
	Digest digest.Digest `json:"digest"`
	// With is the deleted tag that takes it along.
	With string `json:"with"`
	// Was is why the plan kept it.
	Was string `json:"keptBecause"`
}

// ForDigestDeletes fits p to a registry that deletes tags by deleting their
// manifest. A deleted tag whose manifest the plan keeps only for other
// tags would take those along: they are returned, and with allow they are
// deleted in the plan, with the manifest and what hangs off it. A deleted
// tag whose manifest is kept for any other reason (locked, child of a kept
// index, referrer of a kept manifest, pulled recently) is kept instead,
// since deleting it would delete what must stay.
func ForDigestDeletes(p *retention.Plan, allow bool) []Collateral {
	var out []Collateral
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		mi := make(map[digest.Digest]int, len(r.Manifests))
		for i, m := range r.Manifests {
			mi[m.Digest] = i
		}
		var first map[digest.Digest]string // digest -> a deleted tag on it
		for i := range r.Tags {
			t := &r.Tags[i]
			j, ok := mi[t.Digest]
			if !t.Delete || !ok || r.Manifests[j].Delete {
				continue
			}
			m := &r.Manifests[j]
			if m.Rule != retention.RuleTagged {
				t.Decision = retention.Decision{Rule: m.Rule, Reason: fmt.Sprintf("kept: the registry deletes by digest and the manifest stays (%s)", m.Reason)}
				continue
			}
			if first == nil {
				first = map[digest.Digest]string{}
			}
			if _, seen := first[t.Digest]; !seen {
				first[t.Digest] = t.Name
			}
		}
		if len(first) == 0 {
			continue
		}
		for i := range r.Tags {
			t := &r.Tags[i]
			with, ok := first[t.Digest]
			if !ok || t.Delete {
				continue
			}
			out = append(out, Collateral{Repo: r.Name, Tag: t.Name, Digest: t.Digest, With: with, Was: t.Reason})
			if allow {
				t.Decision = retention.Decision{Delete: true, Rule: retention.RuleTagsDeleted,
					Reason: fmt.Sprintf("deleted: collateral, same manifest as %s (registry deletes by digest)", with)}
			}
		}
		if allow {
			for d := range first {
				dropManifest(r, mi, mi[d])
			}
		}
	}
	recount(p)
	return out
}

// dropManifest marks manifest i deleted, and the children and referrers
// kept only because of it.
func dropManifest(r *retention.RepoPlan, mi map[digest.Digest]int, i int) {
	m := &r.Manifests[i]
	if m.Delete {
		return
	}
	m.Decision = retention.Decision{Delete: true, Rule: retention.RuleTagsDeleted, Reason: "deleted: no tag left (collateral)"}
	for j := range r.Manifests {
		o := &r.Manifests[j]
		if o.Delete {
			continue
		}
		if o.Subject == m.Digest && o.Rule == retention.RuleReferrer {
			o.Decision = retention.Decision{Delete: true, Rule: retention.RuleReferrer, Reason: "deleted: referrer of deleted manifest"}
			o.Wave = min(o.Wave, m.Wave) - 1
		}
		if slices.Contains(m.Children, o.Digest) && o.Rule == retention.RuleChild {
			o.Decision = retention.Decision{Delete: true, Rule: retention.RuleChild, Reason: "deleted: child of deleted index"}
			o.Wave = m.Wave + 1
		}
	}
	// Waves must stay non-negative; shift the repository if a referrer
	// went below its subject.
	low := 0
	for _, o := range r.Manifests {
		low = min(low, o.Wave)
	}
	for j := range r.Manifests {
		r.Manifests[j].Wave -= low
	}
}

// recount redoes p's summary after decisions changed.
func recount(p *retention.Plan) {
	s := retention.Summary{Repositories: len(p.Repositories)}
	for _, r := range p.Repositories {
		for _, t := range r.Tags {
			if t.Delete {
				s.TagsDeleted++
			} else {
				s.TagsKept++
			}
		}
		for _, m := range r.Manifests {
			if m.Delete {
				s.ManifestsDeleted++
			} else {
				s.ManifestsKept++
			}
		}
		s.BytesFreed += r.BytesFreed
	}
	p.Summary = s
}
