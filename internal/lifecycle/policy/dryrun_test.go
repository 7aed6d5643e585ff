package policy

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// dumpDB renders every row of every table of the database at path, in
// rowid order, through a separate read-only connection: a byte-level
// picture of the metadata that does not depend on how SQLite lays out
// pages (a checkpoint moves bytes between the WAL and the file without
// changing a row). Tables in skip are left out.
func dumpDB(t *testing.T, path string, skip ...string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	var out bytes.Buffer
next:
	for _, n := range names {
		for _, s := range skip {
			if n == s {
				continue next
			}
		}
		rows, err := db.Query(`SELECT * FROM "` + n + `" ORDER BY rowid`)
		if err != nil {
			// WITHOUT ROWID tables: their primary key orders them.
			if rows, err = db.Query(`SELECT * FROM "` + n + `"`); err != nil {
				t.Fatal(err)
			}
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&out, "== %s %v\n", n, cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "%q\n", vals)
		}
		rows.Close()
	}
	return out.Bytes()
}

// TestDryRunChangesNothing plans and dry-runs a policy that would delete
// tags, manifests, an index with its children and a referrer, and compares
// every row of the metadata before and after: the engine's dry run changes
// nothing at all, and a stored policy's dry run only records itself (its
// run and that run's event).
func TestDryRunChangesNothing(t *testing.T) {
	ctx := metadata.WithActor(context.Background(), "tester")
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &storeFixture{t: t, s: s, ctx: ctx}
	for i := range 5 {
		f.image("app", fmt.Sprint(i), daysAgo(40+i), fmt.Sprintf("v%d", i))
	}
	f.image("app", "untagged", daysAgo(50))
	putIndex(t, f, "multi", daysAgo(60), "old")
	f.lockTag("app", "v4")
	f.putPolicy("everything", `{"olderThan":"30d","untaggedOlderThan":"0d"}`, "")
	before := dumpDB(t, path)
	beforeContent := dumpDB(t, path, "retention_runs", "outbox")

	a := NewAdapter(s, true)
	pol, err := Decode("everything", []byte(`{"olderThan":"30d","untaggedOlderThan":"0d"}`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := retention.BuildPlan(ctx, a, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	// v4 is locked; multi's index goes with its two children and its
	// referrer, app's four other images with their untagged neighbour.
	if plan.Summary.TagsDeleted != 5 || plan.Summary.ManifestsDeleted != 9 || plan.Summary.TagsKept != 1 {
		t.Fatalf("plan = %+v, want 5 tags and 9 manifests deleted, v4 kept", plan.Summary)
	}
	res, err := retention.Apply(ctx, plan, a, a, retention.ApplyOptions{DryRun: true})
	if err != nil || len(res.Deleted) != 14 {
		t.Fatalf("dry run = %d would-be deletions, %v; want 14", len(res.Deleted), err)
	}
	if after := dumpDB(t, path); !bytes.Equal(before, after) {
		t.Errorf("the engine's dry run changed the metadata:\n--- before\n%s\n--- after\n%s", before, after)
	}

	rep, err := NewRunner(s, Options{Trash: true}).Run(ctx, "everything", true)
	if err != nil || !rep.Run.DryRun || rep.Run.TagsDeleted != 5 {
		t.Fatalf("stored policy dry run = %+v, %v", rep, err)
	}
	if after := dumpDB(t, path, "retention_runs", "outbox"); !bytes.Equal(beforeContent, after) {
		t.Errorf("a stored policy's dry run changed the metadata:\n--- before\n%s\n--- after\n%s", beforeContent, after)
	}
	evs, err := s.PendingEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != metadata.EventRetentionRun {
		t.Errorf("last event = %s, want the run's %s and nothing else new", last.Type, metadata.EventRetentionRun)
	}
}
