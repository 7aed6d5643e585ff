package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	p := plan(t, fixture(), fixturePolicy)
	var b bytes.Buffer
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	// Compare word by word: tabwriter's padding is its business.
	var got []string
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"REPOSITORY TAG DIGEST AGE ACTION REASON",
		"app new " + sd("new") + " 1d keep kept: newer than 30d",
		"app multi " + sd("idx") + " 40d delete deleted: older than 30d",
		"app old " + sd("old") + " 40d delete deleted: older than 30d",
		"app <manifest> " + sd("new") + " 1d keep kept: tagged new",
		"app <untagged> " + sd("c1") + " 40d delete deleted: child of deleted index",
		"app <untagged> " + sd("c2") + " 40d delete deleted: child of deleted index",
		"app <manifest> " + sd("idx") + " 40d delete deleted: no tag left",
		"app <manifest> " + sd("old") + " 40d delete deleted: no tag left",
		"app <untagged> " + sd("sig") + " 40d delete deleted: referrer of deleted manifest",
		"app <untagged> " + sd("stray") + " 40d delete deleted: untagged older than 7d",
		"lib 1.0 " + sd("l1") + " 40d delete deleted: older than 30d",
		"lib <manifest> " + sd("l1") + " 40d delete deleted: no tag left",
		"",
		"2 repositories: 3 tags deleted, 1 kept; 7 manifests deleted, 1 kept; about 6.8 KiB freed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteJSONIsDeterministicAndRoundTrips(t *testing.T) {
	render := func() []byte {
		var b bytes.Buffer
		// A fresh source each time: map iteration order differs per run.
		if err := WriteJSON(&b, plan(t, fixture(), fixturePolicy)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first := render()
	for range 5 {
		if again := render(); !bytes.Equal(first, again) {
			t.Fatalf("JSON differs between runs:\n%s\n---\n%s", first, again)
		}
	}
	var back Plan
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	orig := plan(t, fixture(), fixturePolicy)
	if back.Summary != orig.Summary || len(back.Repositories) != len(orig.Repositories) {
		t.Fatalf("round trip summary %+v, want %+v", back.Summary, orig.Summary)
	}
	if !reflect.DeepEqual(verdicts(&back), verdicts(orig)) {
		t.Error("round trip changed verdicts")
	}
	// A decoded plan can be applied: the JSON carries what Apply needs.
	s := fixture()
	res, err := Apply(context.Background(), &back, s, s, ApplyOptions{})
	if err != nil || len(res.Deleted) != orig.Summary.TagsDeleted+orig.Summary.ManifestsDeleted {
		t.Errorf("applying decoded plan: %v, %d deleted", err, len(res.Deleted))
	}
	for _, key := range []string{`"rule": "olderThan"`, `"reason": "deleted: older than 30d"`, `"wave": 1`, `"bytesFreed"`} {
		if !bytes.Contains(first, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}
