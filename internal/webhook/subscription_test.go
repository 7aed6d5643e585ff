package webhook

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestFilter(t *testing.T) {
	push := metadata.Event{Type: metadata.EventManifestPushed, Repo: "team/app", Tag: "v1.2"}
	pushDigest := metadata.Event{Type: metadata.EventManifestPushed, Repo: "team/app"}
	other := metadata.Event{Type: metadata.EventManifestPushed, Repo: "other/app", Tag: "v1.2"}
	del := metadata.Event{Type: metadata.EventTagDeleted, Repo: "team/app", Tag: "v1.2"}
	scan := metadata.Event{Type: "scan.completed", Repo: "team/app", Tag: "v1.2"}
	quarantine := metadata.Event{Type: "gate.quarantined", Repo: "team/app"}
	run := metadata.Event{Type: metadata.EventRetentionRun, Tag: "nightly"}
	pull := metadata.Event{Type: EventPulled, Repo: "team/app"}
	all := []metadata.Event{push, pushDigest, other, del, scan, quarantine, run, pull}
	for _, tc := range []struct {
		name string
		w    metadata.Webhook
		want []bool // per event of all
	}{
		{"everything but pulls", metadata.Webhook{}, []bool{true, true, true, true, true, true, true, false}},
		{"pulls included", metadata.Webhook{IncludePulls: true}, []bool{true, true, true, true, true, true, true, true}},
		{"push alias", metadata.Webhook{Events: []string{"push"}}, []bool{true, true, true, false, false, false, false, false}},
		{"push and pull alias needs include", metadata.Webhook{Events: []string{"push", "pull"}}, []bool{true, true, true, false, false, false, false, false}},
		{"pulls only", metadata.Webhook{Events: []string{"pull"}, IncludePulls: true}, []bool{false, false, false, false, false, false, false, true}},
		{"prefix", metadata.Webhook{Events: []string{"scan.*", "quarantine"}}, []bool{false, false, false, false, true, true, false, false}},
		{"exact type", metadata.Webhook{Events: []string{"tag.deleted", "retention"}}, []bool{false, false, false, true, false, false, true, false}},
		{"repo regex is anchored", metadata.Webhook{RepoRegex: "team/.*"}, []bool{true, true, false, true, true, true, false, false}},
		{"repo regex partial refused", metadata.Webhook{RepoRegex: "app"}, []bool{false, false, false, false, false, false, false, false}},
		{"tag regex", metadata.Webhook{Events: []string{"push"}, TagRegex: `v[0-9.]+`}, []bool{true, false, true, false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := newFilter(tc.w)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range all {
				if got := f.matches(e); got != tc.want[i] {
					t.Errorf("%s %s:%s matched %v, want %v", e.Type, e.Repo, e.Tag, got, tc.want[i])
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := metadata.Webhook{Name: "ci-hook", URL: "https://hooks.example/x", Secret: NewSecret(), Events: []string{"push", "scan.*", "*"}}
	if err := Validate(good); err != nil {
		t.Fatalf("valid webhook refused: %v", err)
	}
	for name, mod := range map[string]func(*metadata.Webhook){
		"name with slash":   func(w *metadata.Webhook) { w.Name = "a/b" },
		"empty name":        func(w *metadata.Webhook) { w.Name = "" },
		"short secret":      func(w *metadata.Webhook) { w.Secret = "short" },
		"bad scheme":        func(w *metadata.Webhook) { w.URL = "gopher://x" },
		"upper case type":   func(w *metadata.Webhook) { w.Events = []string{"Push"} },
		"inner wildcard":    func(w *metadata.Webhook) { w.Events = []string{"scan.*.x"} },
		"bad repo regex":    func(w *metadata.Webhook) { w.RepoRegex = "(" },
		"bad tag regex":     func(w *metadata.Webhook) { w.TagRegex = "[" },
		"regex alternation": func(w *metadata.Webhook) { w.RepoRegex = "a)|(b" },
	} {
		t.Run(name, func(t *testing.T) {
			w := good
			mod(&w)
			err := Validate(w)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTarget) {
				t.Fatalf("Validate = %v, want ErrInvalid or ErrTarget", err)
			}
		})
	}
}
