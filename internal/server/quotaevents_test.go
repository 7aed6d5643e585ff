package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// A push that fills a repository past quota.warn_percent announces one
// quota.warning; a push refused for the quota, one quota.exceeded. Both
// reach the audit log through the outbox.
func TestQuotaEvents(t *testing.T) {
	cfg := testConfig(t)
	// pushImage stores 19 bytes of blobs: 95% of 20.
	cfg.Quota.Repositories = "team/*=20B"
	s, _, _ := start(t, cfg)
	base := s.URL()
	dgst := pushImage(t, base, "team/app", "1.0", creds{})
	// Still above 90%: no second warning.
	if st, body := send(t, http.MethodPut, fmt.Sprintf("%s/v2/team/app/manifests/1.1", base), creds{}, "", nil); st == http.StatusCreated {
		t.Fatalf("empty manifest accepted: %s", body)
	}
	for range 3 {
		b := []byte("ten bytes!")
		st, body := send(t, http.MethodPost, fmt.Sprintf("%s/v2/team/app/blobs/uploads/?digest=%s", base, digest.FromBytes(b)), creds{}, "application/octet-stream", b)
		if st != http.StatusForbidden {
			t.Fatalf("push over the quota: %d %s, want 403", st, body)
		}
	}

	audit := s.meta.(metadata.AuditLog)
	wait := func(action string) []metadata.AuditRecord {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			recs, err := audit.AuditRecords(t.Context(), metadata.AuditQuery{Action: action})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) > 0 || time.Now().After(deadline) {
				return recs
			}
		}
	}
	type detail struct {
		Scope   string `json:"scope"`
		Used    int64  `json:"used"`
		Limit   int64  `json:"limit"`
		Percent int    `json:"warnPercent"`
	}
	cases := []struct {
		action, result string
		want           detail
	}{
		{metadata.EventQuotaWarning, metadata.AuditOK, detail{"repository", 19, 20, 90}},
		{metadata.EventQuotaExceeded, metadata.AuditDenied, detail{"repository", 19, 20, 0}},
	}
	for _, c := range cases {
		recs := wait(c.action)
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1 (pushed %s): %+v", c.action, len(recs), dgst, recs)
			continue
		}
		var d detail
		if err := json.Unmarshal(recs[0].Detail, &d); err != nil || d != c.want || recs[0].Repo != "team/app" ||
			recs[0].Result != c.result || recs[0].ClientIP != "127.0.0.1" {
			t.Errorf("%s record %+v (detail %s), want %+v from 127.0.0.1", c.action, recs[0], recs[0].Detail, c.want)
		}
	}
}
