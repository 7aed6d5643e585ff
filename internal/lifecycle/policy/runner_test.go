package policy

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestRunRecords(t *testing.T) {
	tests := []struct {
		name        string
		dryRun      bool
		wantTags    []string
		wantDeleted int
	}{
		{"dry run changes nothing", true, []string{"new", "old1", "old2"}, 2},
		{"run deletes", false, []string{"new"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreFixture(t)
			f.image("app", "old1", daysAgo(40), "old1")
			f.image("app", "old2", daysAgo(50), "old2")
			f.image("app", "new", daysAgo(1), "new")
			f.putPolicy("nightly", `{"olderThan":"30d"}`, "")
			r := NewRunner(f.s, Options{Trash: true, Now: func() time.Time { return now }})
			rep, err := r.Run(context.Background(), "nightly", tt.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.tags("app"); len(got) != len(tt.wantTags) {
				t.Errorf("tags = %v, want %v", got, tt.wantTags)
			}
			run := rep.Run
			if run.ID == 0 || run.DryRun != tt.dryRun || run.TagsDeleted != tt.wantDeleted || run.ManifestsDeleted != 2 ||
				run.TagsKept != 1 || run.ManifestsKept != 1 || run.BytesFreed <= 0 || run.Error != "" {
				t.Errorf("run = %+v", run)
			}
			runs, err := f.s.RetentionRuns(f.ctx, "nightly", 10)
			if err != nil || len(runs) != 1 || runs[0].ID != run.ID || runs[0].TagsDeleted != tt.wantDeleted {
				t.Fatalf("recorded runs = %+v, %v", runs, err)
			}
			evs, err := f.s.PendingEvents(f.ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			last := evs[len(evs)-1]
			var detail metadata.RetentionRun
			if err := json.Unmarshal(last.Detail, &detail); err != nil {
				t.Fatal(err)
			}
			if last.Type != metadata.EventRetentionRun || last.Actor != "policy:nightly" || detail.TagsDeleted != tt.wantDeleted {
				t.Errorf("last event = %+v (detail %+v)", last, detail)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	f := newStoreFixture(t)
	r := NewRunner(f.s, Options{})
	if _, err := r.Run(f.ctx, "absent", true); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Run(absent) = %v, want ErrNotFound", err)
	}
	f.putPolicy("bad", `{"keep":-1}`, "")
	if _, err := r.Run(f.ctx, "bad", true); err == nil {
		t.Error("Run(invalid stored policy) succeeded")
	}
	f.putPolicy("unknown", `{"kepe":1}`, "")
	if _, err := r.Run(f.ctx, "unknown", true); err == nil {
		t.Error("Run(unknown field) succeeded")
	}
}

// clock is a settable clock for the scheduler's due logic.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRunDue(t *testing.T) {
	f := newStoreFixture(t)
	f.image("app", "old", daysAgo(40), "old")
	f.putPolicy("hourly", `{"olderThan":"30d"}`, "1h")
	f.putPolicy("manual", `{"olderThan":"30d"}`, "")
	if err := f.s.PutRetentionPolicy(f.ctx, metadata.RetentionPolicy{Name: "off", Policy: json.RawMessage(`{}`), Schedule: "1h"}); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: now}
	s := NewScheduler(NewRunner(f.s, Options{Now: c.now}), time.Hour)
	steps := []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {30 * time.Minute, 0}, {31 * time.Minute, 1}, {time.Minute, 0}}
	for i, st := range steps {
		c.add(st.advance)
		if got := s.RunDue(f.ctx); got != st.want {
			t.Errorf("step %d: ran %d, want %d", i, got, st.want)
		}
	}
	runs, err := f.s.RetentionRuns(f.ctx, "", 10)
	if err != nil || len(runs) != 2 || runs[0].Policy != "hourly" || runs[1].TagsDeleted != 1 {
		t.Fatalf("runs = %+v, %v; want two runs of hourly, the first deleting old", runs, err)
	}
	// A new scheduler (a restart) reads the last run from the history.
	s2 := NewScheduler(NewRunner(f.s, Options{Now: c.now}), time.Hour)
	if got := s2.RunDue(f.ctx); got != 0 {
		t.Errorf("after restart ran %d, want 0: the last run is recent", got)
	}
}

// TestSchedulerLoop runs the real loop with a short interval and checks
// that runs are recorded and that stop returns.
func TestSchedulerLoop(t *testing.T) {
	f := newStoreFixture(t)
	f.image("app", "old", daysAgo(40), "old")
	f.putPolicy("fast", `{"olderThan":"30d"}`, "1s")
	s := NewScheduler(NewRunner(f.s, Options{}), 20*time.Millisecond)
	stop := s.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	var runs []metadata.RetentionRun
	for time.Now().Before(deadline) {
		var err error
		if runs, err = f.s.RetentionRuns(f.ctx, "fast", 10); err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if len(runs) < 2 {
		t.Fatalf("runs = %+v, want at least two within 10s at a 1s schedule", runs)
	}
	if runs[len(runs)-1].TagsDeleted != 1 || runs[0].TagsDeleted != 0 {
		t.Errorf("runs = %+v, want the first to delete old and later ones nothing", runs)
	}
	if gap := runs[0].Started.Sub(runs[1].Started); gap < time.Second {
		t.Errorf("runs %s apart, want at least the 1s schedule", gap)
	}
	if len(f.tags("app")) != 0 {
		t.Errorf("tags = %v, want none", f.tags("app"))
	}
}

// TestRunDueCron runs a cron-scheduled policy at its times: not when it
// is stored, at the first 03:00 UTC after, once, and again a day later.
func TestRunDueCron(t *testing.T) {
	f := newStoreFixture(t)
	f.image("app", "old", daysAgo(40), "old")
	f.putPolicy("nightly", `{"olderThan":"30d"}`, "0 3 * * *")
	p, err := f.s.RetentionPolicy(f.ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: p.Updated}
	s := NewScheduler(NewRunner(f.s, Options{Now: c.now}), time.Hour)
	first := time.Date(p.Updated.Year(), p.Updated.Month(), p.Updated.Day(), 3, 0, 0, 0, time.UTC)
	if !first.After(p.Updated) {
		first = first.AddDate(0, 0, 1)
	}
	steps := []struct {
		to   time.Time
		want int
	}{
		{p.Updated, 0},
		{first.Add(-time.Minute), 0},
		{first, 1},
		{first.Add(time.Hour), 0},
		{first.Add(24*time.Hour - time.Second), 0},
		{first.Add(24 * time.Hour), 1},
	}
	for i, st := range steps {
		c.mu.Lock()
		c.t = st.to
		c.mu.Unlock()
		if got := s.RunDue(f.ctx); got != st.want {
			t.Errorf("step %d (%s): ran %d, want %d", i, st.to.Format(time.RFC3339), got, st.want)
		}
	}
}
