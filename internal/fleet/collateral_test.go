package fleet

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

func tagPlan(name string, d digest.Digest, del bool, reason string) retention.TagPlan {
	return retention.TagPlan{Tag: retention.Tag{Name: name, Digest: d}, Decision: retention.Decision{Delete: del, Reason: reason}}
}

func manifestPlan(d digest.Digest, del bool, rule retention.Rule, reason string, subject digest.Digest) retention.ManifestPlan {
	return retention.ManifestPlan{Manifest: retention.Manifest{Digest: d, Subject: subject}, Decision: retention.Decision{Delete: del, Rule: rule, Reason: reason}}
}

func TestForDigestDeletes(t *testing.T) {
	a, b, sig := digest.FromString("a"), digest.FromString("b"), digest.FromString("sig")
	build := func() *retention.Plan {
		return &retention.Plan{Repositories: []retention.RepoPlan{{
			Name: "app",
			Tags: []retention.TagPlan{
				tagPlan("v1", a, true, "deleted: older than 0d"),
				tagPlan("stable", a, false, "kept: not selected"),
				tagPlan("v2", b, true, "deleted: older than 0d"),
			},
			Manifests: []retention.ManifestPlan{
				manifestPlan(a, false, retention.RuleTagged, "kept: tagged stable", ""),
				manifestPlan(sig, false, retention.RuleReferrer, "kept: referrer of kept manifest", a),
				manifestPlan(b, false, retention.RuleLocked, "kept: locked", ""),
			},
		}}}
	}
	for _, tt := range []struct {
		allow      bool
		collateral int
		verdicts   map[string]string // tag or manifest digest -> reason prefix
	}{
		{false, 1, map[string]string{"v1": "deleted: older", "stable": "kept: not selected", "v2": "kept: the registry deletes by digest", a.String(): "kept: tagged", sig.String(): "kept: referrer"}},
		{true, 1, map[string]string{"v1": "deleted: older", "stable": "deleted: collateral, same manifest as v1", "v2": "kept: the registry deletes by digest", a.String(): "deleted: no tag left", sig.String(): "deleted: referrer of deleted"}},
	} {
		p := build()
		got := ForDigestDeletes(p, tt.allow)
		if len(got) != tt.collateral || got[0].Tag != "stable" || got[0].With != "v1" {
			t.Errorf("allow=%v: collateral %+v", tt.allow, got)
		}
		r := p.Repositories[0]
		for _, tp := range r.Tags {
			if w := tt.verdicts[tp.Name]; !strings.HasPrefix(tp.Reason, w) {
				t.Errorf("allow=%v: tag %s: %q, want %q…", tt.allow, tp.Name, tp.Reason, w)
			}
		}
		for _, m := range r.Manifests {
			if w, ok := tt.verdicts[m.Digest.String()]; ok && !strings.HasPrefix(m.Reason, w) {
				t.Errorf("allow=%v: manifest %s: %q, want %q…", tt.allow, m.Digest, m.Reason, w)
			}
			if m.Wave < 0 {
				t.Errorf("negative wave on %s", m.Digest)
			}
		}
		if tt.allow {
			var waveSig, waveA int
			for _, m := range r.Manifests {
				switch m.Digest {
				case sig:
					waveSig = m.Wave
				case a:
					waveA = m.Wave
				}
			}
			if waveSig >= waveA {
				t.Errorf("referrer wave %d not before its subject's %d", waveSig, waveA)
			}
		}
		wantDeleted := 1
		if tt.allow {
			wantDeleted = 2
		}
		if p.Summary.TagsDeleted != wantDeleted {
			t.Errorf("allow=%v: summary %+v", tt.allow, p.Summary)
		}
	}
}
