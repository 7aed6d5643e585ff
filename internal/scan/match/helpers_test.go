package match

import (
	"context"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// dbOf builds a snapshot from OSV JSON documents.
func dbOf(t *testing.T, docs ...string) *vulndb.DB {
	t.Helper()
	b := vulndb.NewBuilder(vulndb.Limits{})
	for i, d := range docs {
		b.Add("test", "doc", []byte(d))
		if st := b.Build(); st.Len() == 0 {
			t.Fatalf("document %d did not import: %v", i, st.Status().Problems)
		}
	}
	for _, d := range docs {
		b.Add("test", "doc", []byte(d))
	}
	return b.Build()
}

// goDB is the real Go advisories of golang.org/x/vuln@v1.9.0 (see
// ../vulndb/testdata/README.md).
func goDB(t *testing.T) *vulndb.DB {
	t.Helper()
	b := vulndb.NewBuilder(vulndb.Limits{})
	if err := b.AddDir(context.Background(), filepath.Join("..", "vulndb", "testdata", "go")); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

// hits renders findings as "ID pkg@installed fixed=a,b status".
func hits(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID+" "+f.Package+"@"+f.InstalledVersion+" fixed="+strings.Join(f.FixedVersions, ",")+" "+string(f.FixStatus))
	}
	sort.Strings(out)
	return out
}

func check(t *testing.T, got []Finding, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	sort.Strings(want)
	if g := hits(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("findings:\n got  %q\n want %q", g, want)
	}
}

func inv(o inventory.OS, pkgs ...inventory.Package) *inventory.Inventory {
	for i := range pkgs {
		if pkgs[i].PURL == "" {
			pkgs[i].PURL = "pkg:" + string(pkgs[i].Ecosystem) + "/" + pkgs[i].Name + "@" + pkgs[i].Version
		}
	}
	return &inventory.Inventory{OS: o, Packages: pkgs, Status: inventory.StatusComplete}
}
