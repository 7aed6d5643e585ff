package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

// policyCall makes one unauthenticated request with a JSON body.
func policyCall(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b
}

// pushDistinct pushes an image whose layer names repo and tag, so that
// every tag has its own manifest.
func pushDistinct(t *testing.T, base, repo, tag string) digest.Digest {
	t.Helper()
	var descs []string
	for _, b := range [][]byte{[]byte(`{}`), []byte("layer of " + repo + ":" + tag)} {
		d := digest.FromBytes(b)
		if st, body := policyCall(t, http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", base, repo, d), "application/octet-stream", b); st != http.StatusCreated {
			t.Fatalf("blob upload: %d %s", st, body)
		}
		descs = append(descs, fmt.Sprintf(`{"mediaType":"application/octet-stream","digest":"%s","size":%d}`, d, len(b)))
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`, descs[0], descs[1]))
	if st, body := policyCall(t, http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), "application/vnd.oci.image.manifest.v1+json", m); st != http.StatusCreated {
		t.Fatalf("manifest put: %d %s", st, body)
	}
	return digest.FromBytes(m)
}

func tagList(t *testing.T, base, repo string) []string {
	t.Helper()
	st, body := policyCall(t, http.MethodGet, base+"/v2/"+repo+"/tags/list", "", nil)
	var out struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &out); st != http.StatusOK || err != nil {
		t.Fatalf("tags of %s: %d %s", repo, st, body)
	}
	return out.Tags
}

// TestPolicyEndpoints drives /api/v1/policies on a real server: a policy
// from the configuration, create, validation, dry run, run into the bin,
// history and delete.
func TestPolicyEndpoints(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention.Policies = config.Policies(`[{"name":"declared","schedule":"@daily","policy":{"keep":5}}]`)
	s, _, _ := start(t, cfg)
	base := s.URL() + "/api/v1/policies"
	for _, tag := range []string{"v1", "v2", "v3"} {
		pushDistinct(t, s.URL(), "app", tag)
		time.Sleep(2 * time.Millisecond) // distinct push times
	}
	locked := pushDistinct(t, s.URL(), "app", "pinned")
	if st, body := policyCall(t, http.MethodPut, s.URL()+"/api/v1/locks", "application/json",
		[]byte(`{"repository":"app","digest":"`+locked.String()+`","writeEnabled":true,"deleteEnabled":false,"readEnabled":true}`)); st/100 != 2 {
		t.Fatalf("lock: %d %s", st, body)
	}
	pushDistinct(t, s.URL(), "app", "v4") // newest, pushed after the locked one

	steps := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"declared policy is stored", "GET", "/declared", "", 200, `"schedule":"@daily"`},
		{"create", "PUT", "/keep1", `{"policy":{"keep":1,"olderThan":"0d"},"schedule":"24h"}`, 200, `"name":"keep1"`},
		{"invalid rule", "PUT", "/bad", `{"policy":{"keep":-1}}`, 400, "keep: must not be negative"},
		{"invalid schedule", "PUT", "/bad", `{"policy":{},"schedule":"0 3 * *"}`, 400, "want a cron expression"},
		{"cron schedule", "PUT", "/nightly", `{"policy":{"keep":5},"schedule":"0 3 * * *"}`, 200, `"schedule":"0 3 * * *"`},
		{"unknown field", "PUT", "/bad", `{"policy":{"kepe":1}}`, 400, "unknown field"},
		{"bad name", "PUT", "/bad%20name", `{"policy":{}}`, 404, ""},
		{"list", "GET", "", "", 200, `"name":"keep1"`},
		{"absent", "GET", "/nope", "", 404, ""},
		{"run absent", "POST", "/nope/run", "", 404, ""},
		{"method", "PATCH", "/keep1", "", 405, ""},
		{"dry run", "POST", "/keep1/run?dry_run=true", "", 200, `"reason":"kept: manifest locked"`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, body := policyCall(t, st.method, base+st.path, "application/json", []byte(st.body))
			if code != st.want || !strings.Contains(string(body), st.contains) {
				t.Errorf("%s %s: %d %s; want %d containing %q", st.method, st.path, code, body, st.want, st.contains)
			}
		})
	}
	if tags := tagList(t, s.URL(), "app"); len(tags) != 5 {
		t.Fatalf("after dry run tags = %v, want all 5", tags)
	}

	code, body := policyCall(t, http.MethodPost, base+"/keep1/run", "", nil)
	var rep struct {
		Run  metadata.RetentionRun `json:"run"`
		Plan struct {
			Summary struct {
				TagsDeleted int `json:"tagsDeleted"`
			} `json:"summary"`
		} `json:"plan"`
	}
	if err := json.Unmarshal(body, &rep); code != 200 || err != nil {
		t.Fatalf("run: %d %s", code, body)
	}
	if rep.Run.TagsDeleted != 3 || rep.Run.ManifestsDeleted != 3 || rep.Run.TagsKept != 2 || rep.Run.DryRun || rep.Plan.Summary.TagsDeleted != 3 {
		t.Errorf("run = %+v", rep.Run)
	}
	if tags := tagList(t, s.URL(), "app"); !slices.Equal(tags, []string{"pinned", "v4"}) {
		t.Errorf("tags = %v, want [pinned v4]", tags)
	}
	code, body = policyCall(t, http.MethodGet, s.URL()+"/api/v1/trash", "", nil)
	if code != 200 || strings.Count(string(body), `"actor":"policy:keep1"`) != 6 {
		t.Errorf("trash: %d %s; want 3 tags and 3 manifests by policy:keep1", code, body)
	}
	code, body = policyCall(t, http.MethodGet, base+"/keep1/runs", "", nil)
	var runs struct {
		Runs []metadata.RetentionRun `json:"runs"`
	}
	if err := json.Unmarshal(body, &runs); code != 200 || err != nil || len(runs.Runs) != 2 || !runs.Runs[1].DryRun || runs.Runs[0].TagsDeleted != 3 {
		t.Errorf("runs: %d %s", code, body)
	}
	if code, body := policyCall(t, http.MethodDelete, base+"/keep1", "", nil); code != http.StatusNoContent {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ := policyCall(t, http.MethodGet, base+"/keep1/runs", "", nil); code != 404 {
		t.Errorf("runs after delete: %d, want 404", code)
	}
}

// TestPolicyScheduled runs a declared policy from the server's scheduler.
func TestPolicyScheduled(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention.CheckInterval = 20 * time.Millisecond
	cfg.Retention.Policies = config.Policies(`[{"name":"sched","schedule":"1s","policy":{"repositories":{"include":["sched"]},"maxTags":1}}]`)
	s, _, stop := start(t, cfg)
	pushDistinct(t, s.URL(), "sched", "a")
	time.Sleep(2 * time.Millisecond)
	pushDistinct(t, s.URL(), "sched", "b")
	// A run is recorded after its deletions, so wait for the record rather
	// than for the tag list.
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, body = policyCall(t, http.MethodGet, s.URL()+"/api/v1/policies/sched/runs", "", nil)
		if strings.Contains(string(body), `"tagsDeleted":1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(body), `"tagsDeleted":1`) {
		t.Errorf("runs = %s, want a recorded run deleting 1 tag", body)
	}
	if tags := tagList(t, s.URL(), "sched"); !slices.Equal(tags, []string{"b"}) {
		t.Fatalf("tags = %v, want [b] after a scheduled run", tags)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
