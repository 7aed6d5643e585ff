package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// startBerth serves a real Berth on 127.0.0.1 with stores in a temp dir
// and returns a client for it.
func startBerth(t *testing.T) *remote.Client {
	t.Helper()
	s := servertest.Start(t, servertest.Config(t))
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// push pushes a one-layer image (an index when children are given) under
// refs, or by digest when there are none.
func push(t *testing.T, c *remote.Client, repo, seed string, subject digest.Digest, children []digest.Digest, refs ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	var body []byte
	mt := oci.MediaTypeImageManifest
	if len(children) > 0 {
		mt = oci.MediaTypeImageIndex
		var ms []string
		for _, ch := range children {
			ms = append(ms, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":1}`, oci.MediaTypeImageManifest, ch))
		}
		body = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[%s],"annotations":{"seed":%q}}`, mt, strings.Join(ms, ","), seed)
	} else {
		cfgBytes := []byte(`{"seed":"` + seed + `"}`)
		layerBytes := bytes.Repeat([]byte(seed), 100)
		cfgD, err := c.PushBlob(ctx, repo, cfgBytes)
		if err != nil {
			t.Fatal(err)
		}
		layerD, err := c.PushBlob(ctx, repo, layerBytes)
		if err != nil {
			t.Fatal(err)
		}
		subj := ""
		if subject != "" {
			subj = fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":1}`, mt, subject)
		}
		body = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]%s}`,
			mt, cfgD, len(cfgBytes), layerD, len(layerBytes), subj)
	}
	d := digest.FromBytes(body)
	if len(refs) == 0 {
		refs = []string{d.String()}
	}
	for _, ref := range refs {
		if _, err := c.PushManifest(ctx, repo, ref, mt, body); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func tagsOf(t *testing.T, c *remote.Client, repo string) []string {
	t.Helper()
	tags, err := c.Tags(context.Background(), repo, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func purge(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), append([]string{"purge"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// report is the part of the JSON output the tests read.
type report struct {
	Plan struct {
		Repositories []struct {
			Name string `json:"name"`
			Tags []struct {
				Name   string `json:"name"`
				Delete bool   `json:"delete"`
				Reason string `json:"reason"`
			} `json:"tags"`
			Manifests []struct {
				Digest digest.Digest `json:"digest"`
				Delete bool          `json:"delete"`
				Reason string        `json:"reason"`
			} `json:"manifests"`
		} `json:"repositories"`
	} `json:"plan"`
	Result *struct {
		Deleted []struct{ Tag string } `json:"deleted"`
		Failed  []struct{ Tag string } `json:"failed"`
	} `json:"result"`
	BytesFreed int64 `json:"bytesFreed"`
}

func TestPurgeKeepsTheNewest(t *testing.T) {
	c := startBerth(t)
	for _, tag := range []string{"v1", "v2", "v3", "v4"} {
		push(t, c, "app", tag, "", nil, tag)
	}
	for _, tag := range []string{"a", "b", "c"} {
		push(t, c, "other", tag, "", nil, tag)
	}
	code, out, errOut := purge(t, "--registry", c.Base(), "--filter", "app:.*", "--ago", "0d", "--keep", "2", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(rep.Plan.Repositories) != 1 || rep.Plan.Repositories[0].Name != "app" {
		t.Fatalf("planned %+v, want only app", rep.Plan.Repositories)
	}
	reasons := map[string]string{}
	for _, tg := range rep.Plan.Repositories[0].Tags {
		reasons[tg.Name] = tg.Reason
	}
	want := map[string]string{"v4": "kept: newest 2", "v3": "kept: newest 2", "v2": "deleted: older than 0d", "v1": "deleted: older than 0d"}
	for tag, w := range want {
		if !strings.HasPrefix(reasons[tag], w) {
			t.Errorf("%s: reason %q, want %q", tag, reasons[tag], w)
		}
	}
	if rep.Result == nil || len(rep.Result.Deleted) != 4 || len(rep.Result.Failed) != 0 || rep.BytesFreed <= 200 {
		t.Errorf("result %+v, bytes freed %d; want 2 tags and 2 manifests deleted", rep.Result, rep.BytesFreed)
	}
	if got := tagsOf(t, c, "app"); !slices.Equal(got, []string{"v3", "v4"}) {
		t.Errorf("app tags left %v, want [v3 v4]", got)
	}
	if got := tagsOf(t, c, "other"); len(got) != 3 {
		t.Errorf("other tags left %v, want all 3", got)
	}
}

func TestPurgeDryRunChangesNothing(t *testing.T) {
	c := startBerth(t)
	for _, tag := range []string{"1.0", "1.1", "2.0"} {
		push(t, c, "team/web", tag, "", nil, tag)
	}
	code, out, errOut := purge(t, "--registry", c.Base(), "--filter", "team/.*:1\\..*", "--ago", "0d", "--dry-run")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Content, hence digests and sizes, is fixed; ages (a few seconds at
	// most) are not.
	got := regexp.MustCompile(`  \d+s  `).ReplaceAllString(out, "  0s  ")
	golden := filepath.Join("testdata", "purge-dry-run.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n%s", golden, got)
	}
	if tags := tagsOf(t, c, "team/web"); !slices.Equal(tags, []string{"1.0", "1.1", "2.0"}) {
		t.Errorf("dry run deleted tags: left %v", tags)
	}
}

func TestPurgeUntaggedKeepsChildrenAndReferrers(t *testing.T) {
	c := startBerth(t)
	ctx := context.Background()
	amd := push(t, c, "app", "amd64", "", nil)
	arm := push(t, c, "app", "arm64", "", nil)
	idx := push(t, c, "app", "multi", "", []digest.Digest{amd, arm}, "multi")
	img := push(t, c, "app", "single", "", nil, "single")
	sig := push(t, c, "app", "signature", img, nil)
	orphan := push(t, c, "app", "orphan", "", nil)

	code, out, errOut := purge(t, "--registry", c.Base(), "--filter", "app:.*", "--untagged")
	if code != ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"deleted: untagged older than 0d", "kept: child of kept index", "kept: referrer of kept manifest", "Deleted 0 tags and 1 manifests"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, d := range []digest.Digest{amd, arm, idx, img, sig} {
		if _, err := c.HeadManifest(ctx, "app", d.String()); err != nil {
			t.Errorf("kept manifest %s: %v", d, err)
		}
	}
	if _, err := c.HeadManifest(ctx, "app", orphan.String()); !remote.IsNotFound(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if got := tagsOf(t, c, "app"); !slices.Equal(got, []string{"multi", "single"}) {
		t.Errorf("tags left %v", got)
	}
}

func TestPurgeUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty registry", []string{"--registry", "", "--filter", "a:b", "--ago", "1d"}, "--registry must not be empty"},
		{"no filter", []string{"--registry", "http://127.0.0.1:1", "--ago", "1d"}, "at least one --filter"},
		{"filter without colon", []string{"--registry", "http://127.0.0.1:1", "--filter", "abc", "--ago", "1d"}, "want 'repository-regex:tag-regex'"},
		{"bad regex", []string{"--registry", "http://127.0.0.1:1", "--filter", "a(:b", "--ago", "1d"}, "invalid regular expression"},
		{"no rule", []string{"--registry", "http://127.0.0.1:1", "--filter", "a:b", "--keep", "2"}, "no deletion rule"},
		{"bad ago", []string{"--registry", "http://127.0.0.1:1", "--filter", "a:b", "--ago", "1.5d"}, "--ago"},
		{"max below keep", []string{"--registry", "http://127.0.0.1:1", "--filter", "a:b", "--max-tags", "1", "--keep", "2"}, "below --keep"},
		{"output", []string{"--registry", "http://127.0.0.1:1", "--filter", "a:b", "--ago", "1d", "--output", "xml"}, "--output"},
		{"concurrency", []string{"--registry", "http://127.0.0.1:1", "--filter", "a:b", "--ago", "1d", "--concurrency", "0"}, "--concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := purge(t, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errOut, ExitUsage, tt.want)
			}
		})
	}
}

func TestSplitFilter(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"app:v.*", "app", "v.*"},
		{"(?:a|b):.*", "(?:a|b)", ".*"},
		{"team/.*:release-(?:1|2)", "team/.*", "release-(?:1|2)"},
		{":x", "", ""},
		{"x:", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			repo, tag, ok := splitFilter(tt.in)
			if ok != (tt.repo != "") || (ok && (repo != tt.repo || tag != tt.tag)) {
				t.Errorf("splitFilter = %q, %q, %v", repo, tag, ok)
			}
		})
	}
}
