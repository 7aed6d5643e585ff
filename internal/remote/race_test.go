package remote_test

import (
	"context"
	"github.com/berth-registry/berth/internal/remote"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// A tag pushed again between plan and apply survives: Apply re-reads it
// through the Source and sees a new digest or a new push time.
func TestTagRepushedAfterPlanSurvives(t *testing.T) {
	c := startBerth(t, 0)
	ctx := context.Background()
	src := remote.NewSource(c)
	for _, tag := range []string{"old", "moved", "same", "new"} {
		pushImage(t, c, "app", tag, tag)
	}
	zero := retention.Duration(0)
	pol := &retention.Policy{Keep: 1, OlderThan: &zero}
	plan, err := retention.BuildPlan(ctx, src, pol, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Summary.TagsDeleted != 3 {
		t.Fatalf("plan deletes %d tags, want 3", plan.Summary.TagsDeleted)
	}
	pushImage(t, c, "app", "other content", "moved") // a new digest
	pushImage(t, c, "app", "same", "same")           // the same digest, pushed again

	res, err := retention.Apply(ctx, plan, src, src, retention.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, o := range res.Skipped {
		skipped[o.Tag] = o.Reason
	}
	for _, tag := range []string{"moved", "same"} {
		if !strings.HasPrefix(skipped[tag], "changed since plan") {
			t.Errorf("%s: skipped %q, want changed since plan", tag, skipped[tag])
		}
	}
	if len(res.Failed) != 0 {
		t.Errorf("failed: %+v", res.Failed)
	}
	left, err := c.Tags(ctx, "app", 0)
	if err != nil || !slices.Equal(left, []string{"moved", "new", "same"}) {
		t.Errorf("tags left %v, %v; want moved, new, same", left, err)
	}
}
