package audit_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func open(t *testing.T, file string) (*audit.Log, *sqlite.Store) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := audit.Open(s, audit.Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, s
}

func TestFromEvent(t *testing.T) {
	d := digest.FromString("m")
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		e          metadata.Event
		ref        string
		wantDetail string
		result     string // "" for ok
	}{
		{"tagged push", metadata.Event{ID: 4, Type: metadata.EventManifestPushed, Repo: "a/b", Tag: "1.0", Digest: d, MediaType: "m/t", Size: 9, Actor: "alice", ClientIP: "10.1.1.1", At: at},
			"1.0", `{"digest":"` + d.String() + `","mediaType":"m/t","size":9}`, ""},
		{"manifest delete", metadata.Event{ID: 5, Type: metadata.EventManifestDeleted, Repo: "a/b", Digest: d, At: at}, d.String(), "", ""},
		{"gc run", metadata.Event{ID: 6, Type: metadata.EventGCCompleted, At: at}, "", "", ""},
		{"quota warning", metadata.Event{ID: 7, Type: metadata.EventQuotaWarning, Repo: "a/b", At: at, Detail: []byte(`{"scope":"global"}`)},
			"", `{"scope":"global"}`, ""},
		{"quota exceeded", metadata.Event{ID: 8, Type: metadata.EventQuotaExceeded, Repo: "a/b", At: at, Detail: []byte(`{"scope":"disk"}`)},
			"", `{"scope":"disk"}`, metadata.AuditDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := audit.FromEvent(c.e)
			want := cmp.Or(c.result, metadata.AuditOK)
			if r.Action != c.e.Type || r.Repo != c.e.Repo || r.Reference != c.ref || r.Actor != c.e.Actor ||
				r.ClientIP != c.e.ClientIP || r.EventID != c.e.ID || !r.At.Equal(at) || r.Result != want {
				t.Errorf("FromEvent = %+v", r)
			}
			if string(r.Detail) != c.wantDetail {
				t.Errorf("detail = %s, want %s", r.Detail, c.wantDetail)
			}
		})
	}
}

// Every record is stored and written to the file as one JSON line; an
// event delivered twice appears once in both.
func TestRecordStreamsJSONLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	l, s := open(t, file)
	ctx := context.Background()
	ev := metadata.Event{ID: 1, Type: metadata.EventManifestPushed, Repo: "a/b", Tag: "v1", Actor: "alice", At: time.Now()}
	for range 2 {
		if err := l.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	l.Direct(ctx, metadata.AuditRecord{Action: audit.ActionLogin, Actor: "bob", ClientIP: "10.0.0.9", UserAgent: strings.Repeat("x", 1000), Result: metadata.AuditFailed})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []metadata.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r metadata.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, r)
	}
	if len(lines) != 2 {
		t.Fatalf("file has %d records, want 2: %+v", len(lines), lines)
	}
	if lines[0].Action != metadata.EventManifestPushed || lines[0].Reference != "v1" || lines[0].ID == 0 {
		t.Errorf("line 1 = %+v", lines[0])
	}
	if lines[1].Action != audit.ActionLogin || lines[1].ClientIP != "10.0.0.9" || len(lines[1].UserAgent) != 256 || lines[1].At.IsZero() {
		t.Errorf("line 2 = %+v (user agent %d bytes)", lines[1], len(lines[1].UserAgent))
	}
	stored, err := s.AuditRecords(ctx, metadata.AuditQuery{})
	if err != nil || len(stored) != 2 || stored[0].ID != lines[1].ID {
		t.Errorf("stored = %+v, %v; want the same 2 records", stored, err)
	}
}

func TestPruneLoop(t *testing.T) {
	l, s := open(t, "")
	ctx := context.Background()
	now := time.Now()
	for _, age := range []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Minute} {
		l.Direct(ctx, metadata.AuditRecord{At: now.Add(-age), Action: audit.ActionLogin, Result: metadata.AuditOK})
	}
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.PruneLoop(loopCtx, 90*24*time.Hour, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := s.AuditRecords(ctx, metadata.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records left, want the 2 younger than 90 days", len(recs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
