package vulndb

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzAdd feeds arbitrary documents to the importer: no input may panic,
// and every document is either kept or counted.
func FuzzAdd(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "go", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}],"severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder(Limits{MaxEntrySize: 1 << 16})
		b.Add("fuzz", "fuzz", data)
		db := b.Build()
		st := db.Status()
		s := st.Sources[0]
		if s.Entries+s.Invalid+s.Withdrawn != 1 {
			t.Fatalf("document neither kept nor counted: %+v", s)
		}
		_ = db.Lookup("Debian", "a")
	})
}

// FuzzCVSS checks that no vector string panics the score computation and
// that every accepted vector scores within 0–10.
func FuzzCVSS(f *testing.F) {
	for _, v := range []string{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
		"CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:L/A:N",
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if s, ok := CVSSBaseScore(v); ok && (s < 0 || s > 10) {
			t.Fatalf("score %v for %q", s, v)
		}
	})
}
