package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func goDir(t *testing.T) string {
	t.Helper()
	return filepath.Join("testdata", "go")
}

func TestAddDirRealGoEntries(t *testing.T) {
	b := NewBuilder(Limits{})
	if err := b.AddDir(context.Background(), goDir(t)); err != nil {
		t.Fatal(err)
	}
	db := b.Build()
	st := db.Status()
	if st.Advisories != 8 || st.Sources[0].Entries != 8 || st.Ecosystems["Go"] != 8 {
		t.Fatalf("status = %+v, want 8 Go advisories", st)
	}
	if want := time.Date(2023, 4, 3, 15, 57, 51, 0, time.UTC); !st.Newest.Equal(want) {
		t.Fatalf("newest = %v, want %v", st.Newest, want)
	}
	cands := db.Lookup("Go", "golang.org/x/text")
	ids := map[string]bool{}
	for _, c := range cands {
		ids[c.Advisory.ID] = true
	}
	if len(cands) != 2 || !ids["GO-2020-0015"] || !ids["GO-2021-0113"] {
		t.Fatalf("Lookup(golang.org/x/text) = %v", ids)
	}
	a := cands[0].Advisory
	if a.ID == "GO-2020-0015" {
		if a.Aliases[0] != "CVE-2020-14040" || a.Severity != SeverityUnknown {
			t.Fatalf("GO-2020-0015 = %+v", a)
		}
		ev := cands[0].Affected.Ranges[0].Events
		if cands[0].Affected.Ranges[0].Type != RangeSemver || ev[1].Fixed != "0.3.3" {
			t.Fatalf("GO-2020-0015 range = %+v", cands[0].Affected.Ranges)
		}
	}
	std := db.Lookup("Go", "stdlib")
	if len(std) != 1 || len(std[0].Affected.Ranges[0].Events) != 4 {
		t.Fatalf("stdlib lookup = %+v", std)
	}
	if len(db.Lookup("Go", "golang.org/x/nope")) != 0 || len(db.Lookup("npm", "golang.org/x/text")) != 0 {
		t.Fatal("lookup of an unknown package found something")
	}
}

func TestVersionIsContentAddressed(t *testing.T) {
	build := func(extra ...[]byte) string {
		b := NewBuilder(Limits{})
		if err := b.AddDir(context.Background(), goDir(t)); err != nil {
			t.Fatal(err)
		}
		for _, e := range extra {
			b.Add("extra", "extra", e)
		}
		return b.Build().Version()
	}
	v1, v2 := build(), build()
	if v1 != v2 || !strings.HasPrefix(v1, "20230403T155751Z-") {
		t.Fatalf("versions %q and %q, want equal and dated by the newest entry", v1, v2)
	}
	v3 := build([]byte(`{"id":"X-1","modified":"2020-01-01T00:00:00Z"}`))
	if v3 == v1 || !strings.HasPrefix(v3, "20230403T155751Z-") {
		t.Fatalf("an added older entry gave version %q (was %q)", v3, v1)
	}
}

func zipOf(t *testing.T, members map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAddZipWithdrawnDuplicatesAndInvalid(t *testing.T) {
	members := map[string][]byte{
		"README.txt": []byte("not json, ignored"),
		"A-1.json": []byte(`{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"lodash"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}],
			"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`),
		"W-1.json":   []byte(`{"id":"W-1","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}`),
		"bad.json":   []byte(`{"id":`),
		"noid.json":  []byte(`{"summary":"no id"}`),
		"array.json": []byte(`[1,2,3]`),
	}
	for _, dir := range []string{"", "sub/"} {
		t.Run("prefix "+dir, func(t *testing.T) {
			m := map[string][]byte{}
			for k, v := range members {
				m[dir+k] = v
			}
			path := filepath.Join(t.TempDir(), "all.zip")
			if err := os.WriteFile(path, zipOf(t, m), 0o600); err != nil {
				t.Fatal(err)
			}
			b := NewBuilder(Limits{})
			if err := b.AddPath(context.Background(), path); err != nil {
				t.Fatal(err)
			}
			// The same advisory again, older: a duplicate that loses.
			b.Add("other", "A-1 old", []byte(`{"id":"A-1","modified":"2023-01-01T00:00:00Z"}`))
			st := b.Build().Status()
			src := st.Sources[0]
			if st.Advisories != 1 || src.Entries != 1 || src.Withdrawn != 1 || src.Invalid != 3 || st.Sources[1].Duplicates != 1 {
				t.Fatalf("status = %+v", st)
			}
			if len(st.Problems) != 3 {
				t.Fatalf("problems = %q", st.Problems)
			}
		})
	}
}

func TestNewerDuplicateReplaces(t *testing.T) {
	b := NewBuilder(Limits{})
	b.Add("s1", "a", []byte(`{"id":"D-1","modified":"2023-01-01T00:00:00Z","summary":"old"}`))
	b.Add("s2", "b", []byte(`{"id":"D-1","modified":"2024-01-01T00:00:00Z","summary":"new","affected":[{"package":{"ecosystem":"PyPI","name":"Django_Rest"}}]}`))
	db := b.Build()
	st := db.Status()
	if st.Advisories != 1 || st.Sources[0].Entries != 0 || st.Sources[0].Duplicates != 1 || st.Sources[1].Entries != 1 {
		t.Fatalf("status = %+v", st)
	}
	if !st.Sources[0].Newest.IsZero() || st.Sources[1].Newest.Year() != 2024 {
		t.Fatalf("source newest = %v, %v; want none and 2024", st.Sources[0].Newest, st.Sources[1].Newest)
	}
	c := db.Lookup("PyPI", "django.rest")
	if len(c) != 1 || c[0].Advisory.Summary != "new" {
		t.Fatalf("PyPI lookup with another spelling = %+v", c)
	}
}

func TestAliasSeverityIsBorrowed(t *testing.T) {
	b := NewBuilder(Limits{})
	if err := b.AddDir(context.Background(), goDir(t)); err != nil {
		t.Fatal(err)
	}
	b.Add("ghsa", "ghsa", []byte(`{"id":"GHSA-5rcv-m4m3-hfh7","modified":"2023-01-01T00:00:00Z",
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`))
	db := b.Build()
	for _, c := range db.Lookup("Go", "golang.org/x/text") {
		a := c.Advisory
		switch a.ID {
		case "GO-2020-0015":
			if a.Severity != SeverityHigh || a.CVSSScore != 7.5 || a.SeverityFrom != "GHSA-5rcv-m4m3-hfh7" {
				t.Fatalf("GO-2020-0015 severity = %s %v from %q", a.Severity, a.CVSSScore, a.SeverityFrom)
			}
		case "GO-2021-0113":
			if a.Severity != SeverityUnknown {
				t.Fatalf("GO-2021-0113 borrowed %s without a rated alias", a.Severity)
			}
		}
	}
}

func TestHolderSwapsAtomically(t *testing.T) {
	var h Holder
	if h.Load() != nil {
		t.Fatal("empty holder is not nil")
	}
	b := NewBuilder(Limits{})
	b.Add("s", "s", []byte(`{"id":"A","modified":"2023-01-01T00:00:00Z"}`))
	one := b.Build()
	b.Add("s", "s", []byte(`{"id":"B","modified":"2024-01-01T00:00:00Z"}`))
	two := b.Build()
	if one.Len() != 1 || two.Len() != 1 {
		t.Fatalf("Build did not empty the builder: %d then %d", one.Len(), two.Len())
	}
	h.Store(one)
	if prev := h.Store(two); prev != one || h.Load() != two {
		t.Fatal("Store did not swap")
	}
}

func TestImportCaps(t *testing.T) {
	entry := []byte(`{"id":"C-1","modified":"2023-01-01T00:00:00Z"}`)
	// A zip bomb: one member of 64 MiB of zeros compresses to ~64 KiB.
	bomb := bytes.Repeat([]byte{' '}, 64<<20)
	t.Run("zip bomb member is skipped", func(t *testing.T) {
		data := zipOf(t, map[string][]byte{"bomb.json": bomb, "ok.json": entry})
		if len(data) > 1<<20 {
			t.Fatalf("bomb is %d bytes compressed", len(data))
		}
		b := NewBuilder(Limits{MaxEntrySize: 1 << 20})
		if err := b.AddZipReader(context.Background(), "bomb", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		st := b.Build().Status()
		if st.Advisories != 1 || st.Sources[0].Invalid != 1 || !strings.Contains(st.Problems[0], "cap") {
			t.Fatalf("status = %+v", st)
		}
	})
	t.Run("member lying about its size", func(t *testing.T) {
		data := zipOf(t, map[string][]byte{"liar.json": bomb[:4<<20]})
		// Patch the declared sizes (central directory and local header)
		// down to 10 bytes; the reader must stop at the cap, not trust them.
		data = patchSizes(t, data, 10)
		b := NewBuilder(Limits{MaxEntrySize: 1 << 20})
		if err := b.AddZipReader(context.Background(), "liar", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		st := b.Build().Status()
		if st.Advisories != 0 || st.Sources[0].Invalid != 1 {
			t.Fatalf("status = %+v", st)
		}
	})
	t.Run("too many members", func(t *testing.T) {
		m := map[string][]byte{}
		for _, n := range []string{"a", "b", "c"} {
			m[n+".json"] = entry
		}
		data := zipOf(t, m)
		b := NewBuilder(Limits{MaxEntries: 2})
		err := b.AddZipReader(context.Background(), "many", bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("total bytes", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"a", "b", "c"} {
			if err := os.WriteFile(filepath.Join(dir, n+".json"), entry, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		b := NewBuilder(Limits{MaxTotalBytes: int64(2*len(entry) + 1)})
		if err := b.AddDir(context.Background(), dir); !errors.Is(err, ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("huge file in a directory is skipped", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "huge.json"), bomb[:2<<20], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.json")); err != nil {
			t.Fatal(err)
		}
		b := NewBuilder(Limits{MaxEntrySize: 1 << 20})
		if err := b.AddDir(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		st := b.Build().Status()
		if st.Sources[0].Invalid != 1 || st.Advisories != 0 {
			t.Fatalf("status = %+v", st)
		}
	})
	t.Run("not a zip", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.zip")
		if err := os.WriteFile(path, []byte("PK garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := NewBuilder(Limits{}).AddPath(context.Background(), path); err == nil {
			t.Fatal("garbage zip imported")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := NewBuilder(Limits{}).AddDir(ctx, goDir(t)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// patchSizes rewrites the uncompressed size of every member in the local
// headers and the central directory, as a hostile archive would.
func patchSizes(t *testing.T, data []byte, size uint32) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	le := func(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	n := 0
	for i := 0; i+46 <= len(out); i++ {
		switch {
		case bytes.Equal(out[i:i+4], []byte("PK\x01\x02")): // central directory
			le(out[i+24:], size)
			n++
		case bytes.Equal(out[i:i+4], []byte("PK\x07\x08")): // data descriptor
			le(out[i+12:], size)
		}
	}
	if n == 0 {
		t.Fatal("no central directory header patched")
	}
	return out
}

func TestHostileJSON(t *testing.T) {
	tests := []struct {
		name, doc string
		kept      bool
	}{
		{"deep nesting", `{"id":"H","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, false},
		{"free-form objects of other shapes", `{"id":"H","database_specific":[1,2],"affected":[{"ecosystem_specific":"x","database_specific":{"severity":{"a":1}}}]}`, true},
		{"events of the wrong type", `{"id":"H","affected":[{"ranges":[{"events":[{"fixed":1}]}]}]}`, false},
		{"bad time", `{"id":"H","modified":"yesterday"}`, false},
		{"blank id", `{"id":"  "}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(Limits{})
			b.Add("s", tt.name, []byte(tt.doc))
			st := b.Build().Status()
			if kept := st.Advisories == 1; kept != tt.kept || st.Sources[0].Invalid == 1 == tt.kept {
				t.Fatalf("kept = %v, want %v: %+v", kept, tt.kept, st)
			}
		})
	}
}

// TestZipAndDirectoryGiveOneVersion imports the real Go entries once as a
// directory and once as an osv.dev-style zip: same advisories, same version.
func TestZipAndDirectoryGiveOneVersion(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(goDir(t), "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("testdata: %v", err)
	}
	members := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		members[filepath.Base(p)] = b
	}
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(zipPath, zipOf(t, members), 0o600); err != nil {
		t.Fatal(err)
	}
	fromZip, fromDir := NewBuilder(Limits{}), NewBuilder(Limits{})
	if err := fromZip.AddPath(context.Background(), zipPath); err != nil {
		t.Fatal(err)
	}
	if err := fromDir.AddPath(context.Background(), goDir(t)); err != nil {
		t.Fatal(err)
	}
	z, d := fromZip.Build(), fromDir.Build()
	if z.Len() != len(paths) || z.Version() != d.Version() {
		t.Fatalf("zip: %d advisories, version %s; directory: version %s", z.Len(), z.Version(), d.Version())
	}
	if st := z.Status(); st.Sources[0].Name != zipPath || st.Sources[0].Entries != len(paths) {
		t.Fatalf("zip source = %+v", st.Sources)
	}
}
