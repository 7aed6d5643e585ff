package metadatatest

import (
	"errors"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// bytewise are names whose bytewise order differs from case-insensitive
// and locale orders.
var bytewise = []string{"B", "a", "a-1", "a.1", "a_1", "a1", "b", "Z9", "_x"}

// pagingCases checks a listing against want, the full bytewise order.
func pagingCases(t *testing.T, want []string, list func(p metadata.Page) ([]string, error)) {
	t.Helper()
	tests := []struct {
		name string
		p    metadata.Page
		want []string
	}{
		{"all with default N", metadata.Page{}, want},
		{"negative N is the default", metadata.Page{N: -1}, want},
		{"first page", metadata.Page{N: 2}, want[:2]},
		{"N=1 after first", metadata.Page{Last: want[0], N: 1}, want[1:2]},
		{"after a name not present", metadata.Page{Last: want[1] + "\x00"}, want[2:]},
		{"after the last", metadata.Page{Last: want[len(want)-1]}, []string{}},
		{"beyond the end", metadata.Page{Last: "\xff\xff"}, []string{}},
		{"N larger than the rest", metadata.Page{Last: want[len(want)-2], N: 50}, want[len(want)-1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := list(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q (non-nil)", got, tt.want)
			}
		})
	}
	t.Run("walk with N=1", func(t *testing.T) {
		var all []string
		p := metadata.Page{N: 1}
		for i := 0; i <= len(want); i++ {
			page, err := list(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) != 1 {
				t.Fatalf("page of %d with N=1", len(page))
			}
			all = append(all, page...)
			p.Last = page[0]
		}
		if !slices.Equal(all, want) {
			t.Errorf("walk = %q, want %q", all, want)
		}
	})
}

func testListTags(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := f.image("r", "img", at(0))
	for i, tag := range bytewise {
		m := manifest("r", "m"+tag, img.Blobs...)
		m.PushedAt = at(i)
		f.put(m, tag)
	}
	want := slices.Clone(bytewise)
	slices.Sort(want)
	pagingCases(t, want, func(p metadata.Page) ([]string, error) { return f.s.ListTags(f.ctx, "r", p) })

	f.blob("blobs-only", "x", 1)
	t.Run("repository without tags", func(t *testing.T) {
		got, err := f.s.ListTags(f.ctx, "blobs-only", metadata.Page{})
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ListTags = %q, %v; want empty non-nil", got, err)
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		if _, err := f.s.ListTags(f.ctx, "nope", metadata.Page{}); !errors.Is(err, metadata.ErrRepoNotFound) {
			t.Errorf("ListTags = %v, want ErrRepoNotFound", err)
		}
		if _, err := f.s.TagDetails(f.ctx, "nope", metadata.OrderName, metadata.Page{}); !errors.Is(err, metadata.ErrRepoNotFound) {
			t.Errorf("TagDetails = %v, want ErrRepoNotFound", err)
		}
	})
}

func testListRepos(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	t.Run("empty store", func(t *testing.T) {
		got, err := f.s.ListRepos(f.ctx, metadata.Page{})
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ListRepos = %q, %v; want empty non-nil", got, err)
		}
	})
	var want []string
	for i, name := range bytewise {
		repo := "ns/" + name
		want = append(want, repo)
		if i%2 == 0 {
			f.blob(repo, "b", 1) // a linked blob alone makes a repository
		} else {
			f.image(repo, "m", at(i), "v1")
		}
	}
	slices.Sort(want)
	pagingCases(t, want, func(p metadata.Page) ([]string, error) { return f.s.ListRepos(f.ctx, p) })
	pagingCases(t, want, func(p metadata.Page) ([]string, error) {
		sums, err := f.s.RepoSummaries(f.ctx, p)
		names := []string{}
		for _, s := range sums {
			names = append(names, s.Name)
		}
		return names, err
	})
}

func testDeleteTag(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := f.image("r", "img", at(0), "v1", "v2")
	if err := f.s.DeleteTag(f.ctx, "r", "v1"); err != nil {
		t.Fatal(err)
	}
	if got := f.tags("r"); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("tags = %q, want [v2]", got)
	}
	if _, err := f.s.Manifest(f.ctx, "r", img.Digest); err != nil {
		t.Errorf("manifest after DeleteTag: %v", err)
	}
	tests := []struct{ name, repo, tag string }{
		{"already deleted", "r", "v1"},
		{"never existed", "r", "v3"},
		{"unknown repo", "nope", "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.s.DeleteTag(f.ctx, tt.repo, tt.tag); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("DeleteTag = %v, want ErrNotFound", err)
			}
		})
	}
	if err := f.s.DeleteTag(f.ctx, "r", "v2"); err != nil {
		t.Fatal(err)
	}
	if got := f.tags("r"); len(got) != 0 {
		t.Errorf("tags after deleting all = %q, want none", got)
	}
}

func testTagDetails(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	// updated: c=1, a=2, d=2, b=3 — a and d tie and break by name.
	f.image("r", "c", at(1), "c")
	f.image("r", "ad", at(2), "d", "a")
	f.image("r", "b", at(3), "b")

	tests := []struct {
		name  string
		order metadata.Order
		p     metadata.Page
		want  []string
	}{
		{"by name", metadata.OrderName, metadata.Page{}, []string{"a", "b", "c", "d"}},
		{"by name after", metadata.OrderName, metadata.Page{Last: "b", N: 1}, []string{"c"}},
		{"by name beyond the end", metadata.OrderName, metadata.Page{Last: "z"}, []string{}},
		{"oldest first", metadata.OrderTimeAsc, metadata.Page{}, []string{"c", "a", "d", "b"}},
		{"oldest first after a tie", metadata.OrderTimeAsc, metadata.Page{Last: "a", N: 1}, []string{"d"}},
		{"oldest first after c", metadata.OrderTimeAsc, metadata.Page{Last: "c", N: 2}, []string{"a", "d"}},
		{"oldest first after the last", metadata.OrderTimeAsc, metadata.Page{Last: "b"}, []string{}},
		{"newest first", metadata.OrderTimeDesc, metadata.Page{}, []string{"b", "d", "a", "c"}},
		{"newest first after a tie", metadata.OrderTimeDesc, metadata.Page{Last: "d"}, []string{"a", "c"}},
		{"newest first N=1", metadata.OrderTimeDesc, metadata.Page{N: 1}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			infos, err := f.s.TagDetails(f.ctx, "r", tt.order, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, ti := range infos {
				got = append(got, ti.Name)
				if ti.Repo != "r" || ti.Digest == "" || ti.MediaType == "" || ti.Updated.IsZero() || ti.FirstPushed.IsZero() {
					t.Errorf("incomplete TagInfo %+v", ti)
				}
			}
			if infos == nil || !slices.Equal(got, tt.want) {
				t.Errorf("TagDetails = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("time order after a vanished tag", func(t *testing.T) {
		// Its position is lost: paging must fail rather than guess.
		for _, order := range []metadata.Order{metadata.OrderTimeAsc, metadata.OrderTimeDesc} {
			_, err := f.s.TagDetails(f.ctx, "r", order, metadata.Page{Last: "gone"})
			if !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("order %d after unknown tag = %v, want ErrNotFound", order, err)
			}
		}
	})
	t.Run("walk newest first", func(t *testing.T) {
		var got []string
		p := metadata.Page{N: 1}
		for range 10 {
			infos, err := f.s.TagDetails(f.ctx, "r", metadata.OrderTimeDesc, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) == 0 {
				break
			}
			got = append(got, infos[0].Name)
			p.Last = infos[0].Name
		}
		if !slices.Equal(got, []string{"b", "d", "a", "c"}) {
			t.Errorf("walk = %q", got)
		}
	})
}

func testTagDetailsSize(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	shared := f.blob("r", "shared-base", 5000)
	amd := manifest("r", "amd64", f.blob("r", "amd-config", 100), shared, f.blob("r", "amd-layer", 700))
	arm := manifest("r", "arm64", f.blob("r", "arm-config", 110), shared, f.blob("r", "arm-layer", 800))
	f.put(amd, "amd")
	f.put(arm)
	idx := index("r", "multi", amd, arm)
	f.put(idx, "multi")

	want := map[string]int64{
		"amd": amd.Size + 100 + 5000 + 700,
		// The index, both child manifests, and their blobs with the shared
		// base layer counted once.
		"multi": idx.Size + amd.Size + arm.Size + 100 + 110 + 5000 + 700 + 800,
	}
	infos, err := f.s.TagDetails(f.ctx, "r", metadata.OrderName, metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(want) {
		t.Fatalf("TagDetails = %+v", infos)
	}
	for _, ti := range infos {
		if ti.Size != want[ti.Name] {
			t.Errorf("size of %s = %d, want %d", ti.Name, ti.Size, want[ti.Name])
		}
	}
}

func testRepoSummaries(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("a", "one", at(1), "v1", "latest")
	b := f.image("a", "two", at(4), "v2")
	f.blob("a", "loose", 7) // linked but referenced by nothing: still counted
	f.blob("b", "only", 9)

	sums, err := f.s.RepoSummaries(f.ctx, metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []metadata.RepoSummary{
		{Name: "a", TagCount: 3, Manifests: 2, Size: a.Size + b.Size + 2*(100+1000) + 7, Updated: at(4)},
		{Name: "b", Size: 9},
	}
	if len(sums) != len(want) {
		t.Fatalf("RepoSummaries = %+v, want %+v", sums, want)
	}
	for i, w := range want {
		g := sums[i]
		if g.Name != w.Name || g.TagCount != w.TagCount || g.Manifests != w.Manifests || g.Size != w.Size || !g.Updated.Equal(w.Updated) {
			t.Errorf("summary %d = %+v, want %+v", i, g, w)
		}
	}
}
