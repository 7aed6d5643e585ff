package audit_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestPullQueueCoalesces(t *testing.T) {
	l, s := open(t, "")
	q := l.Pulls(audit.PullOptions{Window: time.Hour, FlushEvery: time.Hour})
	d1, d2 := digest.FromString("1"), digest.FromString("2")
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	pulls := []audit.Pull{
		{At: at, Actor: "alice", ClientIP: a, UserAgent: "crane", Repo: "app", Reference: "1.0", Digest: d1},
		{At: at.Add(time.Second), Actor: "alice", ClientIP: a, UserAgent: "crane", Repo: "app", Reference: d1.String(), Digest: d1},
		{At: at.Add(2 * time.Second), Actor: "alice", ClientIP: a, UserAgent: "crane", Repo: "app", Reference: "1.0", Digest: d1},
		{At: at, Actor: "bob", ClientIP: b, UserAgent: "docker", Repo: "app", Reference: "1.0", Digest: d1},
		{At: at, Actor: "alice", ClientIP: a, UserAgent: "crane", Repo: "app", Reference: "2.0", Digest: d2},
	}
	for _, p := range pulls {
		if !q.Add(p) {
			t.Fatal("Add refused a pull with an empty queue")
		}
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := s.AuditRecords(context.Background(), metadata.AuditQuery{Action: audit.ActionPulled})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		actor, ip, ua, ref, digest string
		count                      int
	}
	found := map[got]bool{}
	for _, r := range recs {
		var d struct {
			Digest string `json:"digest"`
			Count  int    `json:"count"`
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatalf("detail %s: %v", r.Detail, err)
		}
		found[got{r.Actor, r.ClientIP, r.UserAgent, r.Reference, d.Digest, d.Count}] = true
	}
	want := []got{
		{"alice", "127.0.0.1", "crane", "1.0", d1.String(), 3},
		{"bob", "127.0.0.2", "docker", "1.0", d1.String(), 1},
		{"alice", "127.0.0.1", "crane", "2.0", d2.String(), 1},
	}
	if len(recs) != len(want) {
		t.Errorf("%d records, want %d: %+v", len(recs), len(want), found)
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("no record %+v in %+v", w, found)
		}
	}
}

// blockingStore holds the writer in RecordAudits until release closes.
type blockingStore struct {
	metadata.AuditLog
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) RecordAudits(ctx context.Context, rs []metadata.AuditRecord) ([]int64, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.AuditLog.RecordAudits(ctx, rs)
}

func TestPullQueueDropsWhenFull(t *testing.T) {
	_, s := open(t, "")
	bs := &blockingStore{AuditLog: s, entered: make(chan struct{}, 1), release: make(chan struct{})}
	l, err := audit.Open(bs, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A full queue (2) wakes the writer, which blocks writing both.
	q := l.Pulls(audit.PullOptions{QueueSize: 2, FlushEvery: time.Hour})
	pull := func(i int) bool {
		return q.Add(audit.Pull{At: time.Now(), Repo: "app", Digest: digest.FromString(string(rune('a' + i)))})
	}
	pull(0)
	pull(1)
	<-bs.entered
	kept := 0
	for i := 2; i <= 10; i++ {
		if pull(i) {
			kept++
		}
	}
	if kept != 2 || q.Dropped() != 7 {
		t.Errorf("kept %d, dropped %d of 9 behind a blocked writer; want 2 and 7", kept, q.Dropped())
	}
	close(bs.release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.AuditRecords(context.Background(), metadata.AuditQuery{Action: audit.ActionPulled})
	if len(recs) != 4 {
		t.Errorf("%d records, want 4 (the first 2 and the 2 kept)", len(recs))
	}
}

func TestPullQueueWritesClosedWindows(t *testing.T) {
	l, s := open(t, "")
	q := l.Pulls(audit.PullOptions{Window: 50 * time.Millisecond, FlushEvery: 20 * time.Millisecond})
	t.Cleanup(func() { q.Close(context.Background()) })
	q.Add(audit.Pull{At: time.Now(), Actor: "ci", Repo: "app", Digest: digest.FromString("x")})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		recs, err := s.AuditRecords(context.Background(), metadata.AuditQuery{Actor: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("a pull was not written after its window closed")
}

func TestPullAddAllocates(t *testing.T) {
	l, _ := open(t, "")
	q := l.Pulls(audit.PullOptions{FlushEvery: time.Hour})
	t.Cleanup(func() { q.Close(context.Background()) })
	p := audit.Pull{At: time.Now(), Actor: "a", ClientIP: netip.MustParseAddr("127.0.0.1"), Repo: "app", Digest: digest.FromString("x")}
	if n := testing.AllocsPerRun(1000, func() { q.Add(p) }); n != 0 {
		t.Errorf("Add allocates %v times per call, want 0", n)
	}
}
