package metadatatest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// RunAudit checks a backend's metadata.AuditLog. open must return a new,
// empty store for each call. Beyond the interface comments it pins down:
// every field survives a round trip; an empty answer is a non-nil slice.
func RunAudit(t *testing.T, open func(t *testing.T) metadata.AuditLog) {
	ctx := context.Background()
	s := open(t)
	if got, err := s.AuditRecords(ctx, metadata.AuditQuery{}); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("AuditRecords on an empty log = %#v, %v; want an empty non-nil slice", got, err)
	}
	recs := []metadata.AuditRecord{
		{At: at(0), Actor: "alice", ClientIP: "10.0.0.1", UserAgent: "crane/1", Action: "manifest.pushed", Repo: "a/app", Reference: "1.0", Result: metadata.AuditOK, Detail: json.RawMessage(`{"size":10}`), EventID: 1},
		{At: at(1), Actor: "bob", ClientIP: "10.0.0.2", Action: "login", Result: metadata.AuditFailed},
		{At: at(2), Actor: "alice", Action: "manifest.pushed", Repo: "b/app", Reference: "2.0", Result: metadata.AuditOK, EventID: 2},
		{At: at(3), Actor: "alice", Action: "tag.deleted", Repo: "a/app", Reference: "1.0", Result: metadata.AuditOK, EventID: 3},
	}
	for i, r := range recs {
		id, err := s.RecordAudit(ctx, r)
		if err != nil || id == 0 {
			t.Fatalf("RecordAudit(%d) = %d, %v", i, id, err)
		}
		recs[i].ID = id
	}
	// A redelivered event is recorded once.
	if id, err := s.RecordAudit(ctx, recs[0]); err != nil || id != 0 {
		t.Errorf("RecordAudit of event 1 again = %d, %v; want 0, nil", id, err)
	}
	ids := func(rs []metadata.AuditRecord) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	id := func(i int) int64 { return recs[i].ID }
	cases := []struct {
		name string
		q    metadata.AuditQuery
		want []int64
	}{
		{"all newest first", metadata.AuditQuery{}, []int64{id(3), id(2), id(1), id(0)}},
		{"repo", metadata.AuditQuery{Repo: "a/app"}, []int64{id(3), id(0)}},
		{"actor", metadata.AuditQuery{Actor: "bob"}, []int64{id(1)}},
		{"action", metadata.AuditQuery{Action: "manifest.pushed"}, []int64{id(2), id(0)}},
		{"since", metadata.AuditQuery{Since: at(2)}, []int64{id(3), id(2)}},
		{"page 1", metadata.AuditQuery{N: 3}, []int64{id(3), id(2), id(1)}},
		{"page 2", metadata.AuditQuery{N: 3, Last: id(1)}, []int64{id(0)}},
		{"combined", metadata.AuditQuery{Actor: "alice", Repo: "a/app", Action: "tag.deleted"}, []int64{id(3)}},
		{"no match", metadata.AuditQuery{Repo: "zzz"}, []int64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.AuditRecords(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); len(g) != len(c.want) || !slices.Equal(g, c.want) {
				t.Errorf("AuditRecords(%+v) = %v, want %v", c.q, g, c.want)
			}
		})
	}
	t.Run("RoundTrip", func(t *testing.T) {
		got, err := s.AuditRecords(ctx, metadata.AuditQuery{Last: id(1)})
		if err != nil || len(got) != 1 {
			t.Fatalf("AuditRecords = %v, %v", got, err)
		}
		g, w := got[0], recs[0]
		if !g.At.Equal(w.At) || g.Actor != w.Actor || g.ClientIP != w.ClientIP || g.UserAgent != w.UserAgent ||
			g.Action != w.Action || g.Repo != w.Repo || g.Reference != w.Reference || g.Result != w.Result ||
			string(g.Detail) != string(w.Detail) || g.EventID != w.EventID {
			t.Errorf("read back %+v, want %+v", g, w)
		}
	})
	t.Run("Prune", func(t *testing.T) {
		n, err := s.PruneAudit(ctx, at(2))
		if err != nil || n != 2 {
			t.Fatalf("PruneAudit = %d, %v; want 2", n, err)
		}
		got, _ := s.AuditRecords(ctx, metadata.AuditQuery{})
		if g := ids(got); !slices.Equal(g, []int64{id(3), id(2)}) {
			t.Errorf("after pruning: %v, want %v", g, []int64{id(3), id(2)})
		}
	})
	t.Run("Batch", func(t *testing.T) {
		s := open(t)
		batch := []metadata.AuditRecord{
			{At: at(5), Actor: "alice", ClientIP: "127.0.0.1", Action: "manifest.pulled", Repo: "a/app", Reference: "1.0", Result: metadata.AuditOK, Detail: json.RawMessage(`{"count":3}`), EventID: 7},
			{At: at(6), Actor: "bob", Action: "manifest.pulled", Repo: "a/app", Result: metadata.AuditOK, EventID: 7},
		}
		got, err := s.RecordAudits(ctx, batch)
		if err != nil || len(got) != 2 || got[0] == 0 || got[1] <= got[0] {
			t.Fatalf("RecordAudits = %v, %v; want two increasing IDs", got, err)
		}
		if ids, err := s.RecordAudits(ctx, nil); err != nil || len(ids) != 0 {
			t.Errorf("RecordAudits(nil) = %v, %v", ids, err)
		}
		read, err := s.AuditRecords(ctx, metadata.AuditQuery{Action: "manifest.pulled"})
		if err != nil || len(read) != 2 {
			t.Fatalf("AuditRecords = %v, %v; want both records (EventID ignored)", read, err)
		}
		if r := read[1]; r.ID != got[0] || r.Actor != "alice" || r.ClientIP != "127.0.0.1" || string(r.Detail) != `{"count":3}` || r.EventID != 0 {
			t.Errorf("read back %+v", r)
		}
	})
}
