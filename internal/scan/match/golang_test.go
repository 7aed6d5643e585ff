package match

import (
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

func TestGoRealAdvisories(t *testing.T) {
	db := goDB(t)
	gopkg := func(name, v string) inventory.Package {
		return inventory.Package{Name: name, Version: v, Ecosystem: inventory.EcosystemGo}
	}
	tests := []struct {
		name string
		pkg  inventory.Package
		want []string
	}{
		{"x/text v0.3.0", gopkg("golang.org/x/text", "v0.3.0"), []string{
			"GO-2020-0015 golang.org/x/text@v0.3.0 fixed=0.3.3 fixed",
			"GO-2021-0113 golang.org/x/text@v0.3.0 fixed=0.3.7 fixed"}},
		{"x/text v0.3.3 (first fix)", gopkg("golang.org/x/text", "v0.3.3"), []string{
			"GO-2021-0113 golang.org/x/text@v0.3.3 fixed=0.3.7 fixed"}},
		{"x/text v0.3.7", gopkg("golang.org/x/text", "v0.3.7"), nil},
		{"x/text v0.14.0", gopkg("golang.org/x/text", "v0.14.0"), nil},
		{"yaml.v2 v2.2.2", gopkg("gopkg.in/yaml.v2", "v2.2.2"), []string{
			"GO-2022-0956 gopkg.in/yaml.v2@v2.2.2 fixed=2.2.4 fixed"}},
		{"yaml.v2 v2.2.4", gopkg("gopkg.in/yaml.v2", "v2.2.4"), nil},
		{"gjson v1.6.0", gopkg("github.com/tidwall/gjson", "v1.6.0"), []string{
			"GO-2021-0054 github.com/tidwall/gjson@v1.6.0 fixed=1.6.6 fixed",
			"GO-2021-0059 github.com/tidwall/gjson@v1.6.0 fixed=1.6.4 fixed",
			"GO-2021-0265 github.com/tidwall/gjson@v1.6.0 fixed=1.9.3 fixed"}},
		{"gjson v1.6.5", gopkg("github.com/tidwall/gjson", "v1.6.5"), []string{
			"GO-2021-0054 github.com/tidwall/gjson@v1.6.5 fixed=1.6.6 fixed",
			"GO-2021-0265 github.com/tidwall/gjson@v1.6.5 fixed=1.9.3 fixed"}},
		{"gjson v1.9.3", gopkg("github.com/tidwall/gjson", "v1.9.3"), nil},
		{"x/net pseudo-version before the fix", gopkg("golang.org/x/net", "v0.0.0-20220822230855-b0a4917ee28c"), []string{
			"GO-2022-0969 golang.org/x/net@v0.0.0-20220822230855-b0a4917ee28c fixed=0.0.0-20220906165146-f3363e06e74c fixed"}},
		{"x/net pseudo-version after the fix", gopkg("golang.org/x/net", "v0.0.0-20221004154528-8021a29435af"), nil},
		{"stdlib in the first range", gopkg("stdlib", "v1.12.5"), []string{
			"GO-2022-0229 stdlib@v1.12.5 fixed=1.12.16,1.13.7 fixed"}},
		{"stdlib in the second range", gopkg("stdlib", "v1.13.2"), []string{
			"GO-2022-0229 stdlib@v1.13.2 fixed=1.13.7 fixed"}},
		{"stdlib between the ranges", gopkg("stdlib", "v1.12.16"), nil},
		{"stdlib fixed", gopkg("stdlib", "v1.13.7"), nil},
		{"stdlib prerelease of the fix", gopkg("stdlib", "v1.13.7-rc.1"), []string{
			"GO-2022-0229 stdlib@v1.13.7-rc.1 fixed=1.13.7 fixed"}},
		{"x/crypto from the same stdlib advisory", gopkg("golang.org/x/crypto", "v0.0.0-20200101000000-000000000000"), []string{
			"GO-2022-0229 golang.org/x/crypto@v0.0.0-20200101000000-000000000000 fixed=0.0.0-20200124225646-8b5121be2f68 fixed"}},
		{"module not in the database", gopkg("example.com/nothing", "v1.0.0"), nil},
		{"same name, other ecosystem", inventory.Package{Name: "golang.org/x/text", Version: "0.3.0", Ecosystem: inventory.EcosystemNPM}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Match(inv(inventory.OS{}, tt.pkg), db)
			check(t, got, tt.want)
			for _, f := range got {
				if f.DBVersion != db.Version() || f.DBVersion == "" || f.PURL == "" || f.Summary+f.Details == "" {
					t.Fatalf("finding fields missing: %+v", f)
				}
			}
		})
	}
}

func TestGoFindingFields(t *testing.T) {
	p := inventory.Package{Name: "golang.org/x/text", Version: "v0.3.0", Ecosystem: inventory.EcosystemGo,
		PURL: "pkg:golang/golang.org/x/text@v0.3.0", Layer: "sha256:abc", Path: "usr/bin/app"}
	fs := Match(inv(inventory.OS{}, p, p), goDB(t))
	if len(fs) != 2 {
		t.Fatalf("the same module twice gave %d findings, want 2 (deduplicated)", len(fs))
	}
	f := fs[0]
	if f.ID != "GO-2020-0015" || f.Aliases[0] != "CVE-2020-14040" || f.Layer != "sha256:abc" || f.Path != "usr/bin/app" ||
		f.Severity != "UNKNOWN" || f.Ecosystem != inventory.EcosystemGo || len(f.References) == 0 {
		t.Fatalf("finding = %+v", f)
	}
}

// TestMatcherConcurrent shares one Matcher between goroutines, as the
// re-match job does; run with -race.
func TestMatcherConcurrent(t *testing.T) {
	m := New(goDB(t))
	in := inv(inventory.OS{},
		inventory.Package{Name: "golang.org/x/text", Version: "v0.3.0", Ecosystem: inventory.EcosystemGo},
		inventory.Package{Name: "stdlib", Version: "v1.12.5", Ecosystem: inventory.EcosystemGo})
	results := make(chan int, 8)
	for range 8 {
		go func() { results <- len(m.Run(in).Findings) }()
	}
	for range 8 {
		if n := <-results; n != 3 {
			t.Fatalf("concurrent run found %d, want 3", n)
		}
	}
}
