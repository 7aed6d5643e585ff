package quota

import (
	"context"
	"slices"
	"testing"
	"time"
)

// fakeUsage answers the limiter's two questions from fields.
type fakeUsage struct{ repo, all int64 }

func (f *fakeUsage) RepoBytes(context.Context, string) (int64, error) { return f.repo, nil }
func (f *fakeUsage) LinkedBytes(context.Context) (int64, error)       { return f.all, nil }

func TestNotify(t *testing.T) {
	ctx := context.Background()
	u := &fakeUsage{}
	var got []string
	l, err := New(u, Options{Global: 1000, Repos: []Rule{{"team/*", 100}}, WarnPercent: 90,
		Notify: func(_ context.Context, n Notice) { got = append(got, n.Type+" "+n.Scope+" "+n.Repo) }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	steps := []struct {
		name      string
		repo, all int64 // usage before the check
		manifest  bool  // AdmitManifest, else AdmitBlob of n
		n         int64
		advance   time.Duration
		want      []string
	}{
		{"under both", 50, 50, false, 10, 0, nil},
		{"repository crosses 90%", 90, 90, true, 0, 0, []string{"quota.warning repository team/a"}},
		{"still above: no storm", 95, 95, true, 0, 0, nil},
		{"refused", 95, 95, false, 10, 0, []string{"quota.exceeded repository team/a"}},
		{"refused again within a minute", 95, 95, false, 10, 0, nil},
		{"refused a minute later", 95, 95, false, 10, time.Minute, []string{"quota.exceeded repository team/a"}},
		{"dropped below", 10, 10, false, 1, 0, nil},
		{"crossed again", 92, 92, true, 0, 0, []string{"quota.warning repository team/a"}},
		{"global crosses 90% too", 92, 950, true, 0, 2 * time.Second, []string{"quota.warning global team/a"}},
	}
	for _, st := range steps {
		u.repo, u.all = st.repo, st.all
		now = now.Add(st.advance)
		got = nil
		if st.manifest {
			_ = l.AdmitManifest(ctx, "team/a")
		} else {
			_ = l.AdmitBlob(ctx, "team/a", st.n)
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: notices %q, want %q", st.name, got, st.want)
		}
	}
}

func TestNotifyLowDisk(t *testing.T) {
	var got []Notice
	l, err := New(&fakeUsage{}, Options{MinFree: 500, Notify: func(_ context.Context, n Notice) { got = append(got, n) }})
	if err != nil {
		t.Fatal(err)
	}
	l.free = func(string) (int64, error) { return 600, nil }
	if _, err := l.Reserve(context.Background(), "app", 200); err == nil {
		t.Fatal("Reserve below the watermark admitted")
	}
	if len(got) != 1 || got[0].Type != NoticeExceeded || got[0].Scope != ScopeDisk || got[0].Free != 600 || got[0].MinFree != 500 {
		t.Errorf("notices %+v; want one quota.exceeded of the disk", got)
	}
}
