package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func testBlobs(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	d := f.blob("r", "x", 42)
	f.blob("r", "x", 42) // linking again is harmless
	f.blob("other", "y", 7)

	stats := []struct {
		name, repo string
		d          digest.Digest
		want       int64
		err        error
	}{
		{"linked", "r", d, 42, nil},
		{"not in this repo", "other", d, 0, metadata.ErrNotFound},
		{"unknown repo", "nope", d, 0, metadata.ErrNotFound},
		{"unknown digest", "r", digest.FromString("nope"), 0, metadata.ErrNotFound},
	}
	for _, tt := range stats {
		t.Run("stat "+tt.name, func(t *testing.T) {
			got, err := f.s.StatBlob(f.ctx, tt.repo, tt.d)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("StatBlob = %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
		})
	}
	if got, err := f.s.FindBlob(f.ctx, d); err != nil || got != 42 {
		t.Errorf("FindBlob = %d, %v; want 42", got, err)
	}
	if _, err := f.s.FindBlob(f.ctx, digest.FromString("nope")); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("FindBlob(unknown) = %v, want ErrNotFound", err)
	}

	if err := f.s.UnlinkBlob(f.ctx, "r", d); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.StatBlob(f.ctx, "r", d); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("StatBlob after unlink = %v, want ErrNotFound", err)
	}
	if _, err := f.s.FindBlob(f.ctx, d); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("FindBlob after last unlink = %v, want ErrNotFound", err)
	}
	for _, repo := range []string{"r", "nope"} {
		if err := f.s.UnlinkBlob(f.ctx, repo, d); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("UnlinkBlob(%s) again = %v, want ErrNotFound", repo, err)
		}
	}
	// The repository outlives its last blob.
	if got, err := f.s.ListTags(f.ctx, "r", metadata.Page{}); err != nil || len(got) != 0 {
		t.Errorf("ListTags after unlink = %q, %v; want empty", got, err)
	}
}

func testPulls(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("r", "a", at(0), "v1")
	b := f.image("r", "b", at(0), "v2")

	steps := []struct {
		name  string
		pulls []metadata.Pull
		wantA int // minutes after t0; -1 = never
		wantB int
	}{
		{"first pull", []metadata.Pull{{Repo: "r", Digest: a.Digest, At: at(10)}}, 10, -1},
		{"batch keeps the latest", []metadata.Pull{
			{Repo: "r", Digest: a.Digest, At: at(12)},
			{Repo: "r", Digest: b.Digest, At: at(20)},
			{Repo: "r", Digest: a.Digest, At: at(15)},
			{Repo: "r", Digest: a.Digest, At: at(11)},
		}, 15, 20},
		{"older pull does not move back", []metadata.Pull{{Repo: "r", Digest: a.Digest, At: at(13)}}, 15, 20},
		{"unknown manifests are ignored", []metadata.Pull{
			{Repo: "r", Digest: digest.FromString("gone"), At: at(30)},
			{Repo: "nope", Digest: a.Digest, At: at(30)},
			{Repo: "r", Digest: b.Digest, At: at(21)},
		}, 15, 21},
		{"empty batch", nil, 15, 21},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.s.RecordPulls(f.ctx, tt.pulls); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				m    *metadata.Manifest
				tag  string
				want int
			}{{a, "v1", tt.wantA}, {b, "v2", tt.wantB}} {
				got, err := f.s.Manifest(f.ctx, "r", c.m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				if c.want < 0 && !got.LastPulledAt.IsZero() || c.want >= 0 && !got.LastPulledAt.Equal(at(c.want)) {
					t.Errorf("%s LastPulledAt = %v, want minute %d", c.tag, got.LastPulledAt, c.want)
				}
			}
		})
	}
	infos, err := f.s.TagDetails(f.ctx, "r", metadata.OrderName, metadata.Page{})
	if err != nil || len(infos) != 2 || !infos[0].LastPulledAt.Equal(at(15)) {
		t.Errorf("TagDetails pull times = %+v, %v; want v1 at minute 15", infos, err)
	}
}

func testEvents(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := f.image("r", "img", at(1), "v1", "v2")
	untagged := manifest("r", "untagged", img.Blobs...)
	f.put(untagged)
	anon := context.Background()
	if err := f.s.DeleteTag(anon, "r", "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DeleteManifest(f.ctx, "r", img.Digest); err != nil {
		t.Fatal(err)
	}
	if err := f.s.UnlinkBlob(f.ctx, "r", img.Blobs[1]); err != nil {
		t.Fatal(err)
	}

	type ev struct {
		typ, tag, actor string
		d               digest.Digest
	}
	want := []ev{
		{metadata.EventManifestPushed, "v1", "tester", img.Digest},
		{metadata.EventManifestPushed, "v2", "tester", img.Digest},
		{metadata.EventManifestPushed, "", "tester", untagged.Digest},
		{metadata.EventTagDeleted, "v2", "", img.Digest},
		{metadata.EventTagDeleted, "v1", "tester", img.Digest},
		{metadata.EventManifestDeleted, "", "tester", img.Digest},
		{metadata.EventBlobDeleted, "", "tester", img.Blobs[1]},
	}
	evs := f.events()
	var got []ev
	for i, e := range evs {
		got = append(got, ev{e.Type, e.Tag, e.Actor, e.Digest})
		if e.Repo != "r" || e.At.IsZero() {
			t.Errorf("event %d = %+v: want repository r and a time", i, e)
		}
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Errorf("event IDs not increasing: %d after %d", e.ID, evs[i-1].ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events =\n%v\nwant\n%v", got, want)
	}
	if evs[0].MediaType != img.MediaType || evs[0].Size != img.Size || !evs[0].At.Equal(at(1)) {
		t.Errorf("push event = %+v, want media type, size and the push time", evs[0])
	}
	if evs[6].Size != 1000 {
		t.Errorf("blob.deleted size = %d, want 1000", evs[6].Size)
	}

	pages := []struct {
		name  string
		after int64
		n     int
		want  int
	}{
		{"after the second", evs[1].ID, 0, len(evs) - 2},
		{"one after the first", evs[0].ID, 1, 1},
		{"after the last", evs[len(evs)-1].ID, 10, 0},
	}
	for _, tt := range pages {
		t.Run(tt.name, func(t *testing.T) {
			page, err := f.s.PendingEvents(f.ctx, tt.after, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != tt.want || len(page) > 0 && page[0].ID <= tt.after {
				t.Errorf("PendingEvents(%d, %d) = %d events starting %+v, want %d after", tt.after, tt.n, len(page), page, tt.want)
			}
		})
	}
}

// testConcurrency pushes, tags, pulls and reads from many goroutines at
// once; run it with -race. Every push must land exactly once.
func testConcurrency(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	const repos, writers, pushes = 3, 6, 15
	for r := range repos {
		f.blob(fmt.Sprintf("c%d", r), "base", 10)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		readers  sync.WaitGroup
		errs     = make(chan error, writers+8)
		readHits = make([]int, 4)
	)
	for w := range writers {
		wg.Go(func() {
			repo := fmt.Sprintf("c%d", w%repos)
			base := digest.FromString("blob:base")
			for i := range pushes {
				layer := digest.FromString(fmt.Sprintf("layer %d %d", w, i))
				if err := f.s.LinkBlob(ctx, repo, layer, 100); err != nil {
					errs <- err
					return
				}
				m := manifest(repo, fmt.Sprintf("w%d-%d", w, i), base, layer)
				// Every writer also moves the shared "latest" tag.
				if err := f.s.PutManifest(ctx, m, []string{fmt.Sprintf("w%d-%d", w, i), "latest"}); err != nil {
					errs <- err
					return
				}
				if err := f.s.RecordPulls(ctx, []metadata.Pull{{Repo: repo, Digest: m.Digest, At: at(i)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for r := range len(readHits) {
		readers.Go(func() {
			repo := fmt.Sprintf("c%d", r%repos)
			for ctx.Err() == nil {
				m, err := f.s.TaggedManifest(ctx, repo, "latest")
				switch {
				case err == nil:
					if _, err := f.s.Manifest(ctx, repo, m.Digest); err != nil && ctx.Err() == nil {
						errs <- fmt.Errorf("manifest of latest: %w", err)
						return
					}
					readHits[r]++
				case !errors.Is(err, metadata.ErrNotFound) && ctx.Err() == nil:
					errs <- err
					return
				}
				if _, err := f.s.ListTags(ctx, repo, metadata.Page{N: 5}); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	total := 0
	for r := range repos {
		repo := fmt.Sprintf("c%d", r)
		tags := f.tags(repo)
		wantTags := 1 // latest
		for w := r; w < writers; w += repos {
			wantTags += pushes
		}
		if len(tags) != wantTags {
			t.Errorf("%s has %d tags, want %d", repo, len(tags), wantTags)
		}
		total += wantTags - 1
	}
	if n := len(f.events()); n != 2*total {
		t.Errorf("%d events, want %d (two tags per push)", n, 2*total)
	}
	reads := 0
	for _, h := range readHits {
		reads += h
	}
	t.Logf("%d successful concurrent reads during %d pushes", reads, total)
}
