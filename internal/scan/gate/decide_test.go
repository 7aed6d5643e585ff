package gate

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func findings(specs ...string) []Finding {
	var out []Finding
	for _, s := range specs {
		id, sev, _ := strings.Cut(s, ":")
		out = append(out, Finding{ID: id, Package: "pkg-" + id, Severity: vulndb.Severity(sev)})
	}
	return out
}

func TestDecide(t *testing.T) {
	high := Policy{Pattern: "team/*", Threshold: vulndb.SeverityHigh}
	closed := Policy{Pattern: "team/*", Threshold: vulndb.SeverityHigh, FailClosed: true}
	quarantine := Policy{Pattern: "team/*", Quarantine: true}
	unknownHigh := Policy{Pattern: "*", Threshold: vulndb.SeverityHigh, Unknown: vulndb.SeverityCritical}
	exc := func(pattern, id string, expires time.Time) metadata.GateException {
		return metadata.GateException{Pattern: pattern, ID: id, Reason: "r", Expires: expires}
	}
	complete := func(fs ...string) Scan { return Scan{Status: metadata.ScanComplete, Findings: findings(fs...)} }
	aliased := Scan{Status: metadata.ScanComplete, Findings: []Finding{
		{ID: "GHSA-1", Aliases: []string{"CVE-2024-1"}, Package: "p", Severity: vulndb.SeverityCritical}}}

	tests := []struct {
		name       string
		p          Policy
		exceptions []metadata.GateException
		scan       Scan
		outcome    string
		blocking   []string
		excepted   []string
	}{
		{"clean image", high, nil, complete(), Allow, nil, nil},
		{"below the threshold", high, nil, complete("A:MEDIUM", "B:LOW"), Allow, nil, nil},
		{"at the threshold", high, nil, complete("A:MEDIUM", "B:HIGH"), Denied, []string{"B"}, nil},
		{"worst first", high, nil, complete("B:HIGH", "A:CRITICAL", "C:HIGH"), Denied, []string{"A", "B", "C"}, nil},
		{"partial is weighed by what was read", high, nil,
			Scan{Status: metadata.ScanPartial, Findings: findings("A:CRITICAL")}, Denied, []string{"A"}, nil},
		{"unknown ignored by default", high, nil, complete("A:UNKNOWN"), Allow, nil, nil},
		{"unknown counted as critical", unknownHigh, nil, complete("A:UNKNOWN"), Denied, []string{"A"}, nil},
		{"exception lets the only blocker through", high, []metadata.GateException{exc("team/app", "B", time.Time{})},
			complete("B:HIGH"), Excepted, nil, []string{"B"}},
		{"exception by alias, case-insensitive", high, []metadata.GateException{exc("*", "cve-2024-1", time.Time{})},
			aliased, Excepted, nil, []string{"GHSA-1"}},
		{"exception for another repository", high, []metadata.GateException{exc("other/*", "B", time.Time{})},
			complete("B:HIGH"), Denied, []string{"B"}, nil},
		{"expired exception stops applying", high, []metadata.GateException{exc("*", "B", now)},
			complete("B:HIGH"), Denied, []string{"B"}, nil},
		{"unexpired exception applies", high, []metadata.GateException{exc("*", "B", now.Add(time.Hour))},
			complete("B:HIGH"), Excepted, nil, []string{"B"}},
		{"exception covers one of two", high, []metadata.GateException{exc("*", "B", time.Time{})},
			complete("A:CRITICAL", "B:HIGH"), Denied, []string{"A"}, []string{"B"}},
		{"quarantine while pending", quarantine, nil, Scan{Status: metadata.ScanPending}, Quarantined, nil, nil},
		{"quarantine while scanning", quarantine, nil, Scan{Status: metadata.ScanScanning}, Quarantined, nil, nil},
		{"quarantine when never scanned", quarantine, nil, Scan{}, Quarantined, nil, nil},
		{"quarantine lifted when complete", quarantine, nil, complete("A:CRITICAL"), Allow, nil, nil},
		{"quarantine, fail open, failed scan", quarantine, nil, Scan{Status: metadata.ScanFailed}, Allow, nil, nil},
		{"fail open: scanning", high, nil, Scan{Status: metadata.ScanScanning}, Allow, nil, nil},
		{"fail closed: scanning", closed, nil, Scan{Status: metadata.ScanScanning}, Denied, nil, nil},
		{"fail open: failed", high, nil, Scan{Status: metadata.ScanFailed, Reason: "x"}, Allow, nil, nil},
		{"fail closed: failed", closed, nil, Scan{Status: metadata.ScanFailed, Reason: "x"}, Denied, nil, nil},
		{"fail closed: no database", closed, nil,
			Scan{Status: metadata.ScanSkipped, Reason: scanner.ReasonNoDatabase}, Denied, nil, nil},
		{"fail closed: artifact is no image", closed, nil,
			Scan{Status: metadata.ScanSkipped, Reason: "not a container image (config x)"}, Allow, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.p, tt.exceptions, "team/app", tt.scan, now)
			if d.Outcome != tt.outcome {
				t.Fatalf("outcome %s (%s), want %s", d.Outcome, d.Reason, tt.outcome)
			}
			if got := ids(d.Blocking); strings.Join(got, ",") != strings.Join(tt.blocking, ",") {
				t.Errorf("blocking %v, want %v", got, tt.blocking)
			}
			var exc []string
			for _, e := range d.Excepted {
				exc = append(exc, e.ID)
			}
			if strings.Join(exc, ",") != strings.Join(tt.excepted, ",") {
				t.Errorf("excepted %v, want %v", exc, tt.excepted)
			}
			msg := d.Message("team/app")
			if (tt.outcome == Denied || tt.outcome == Quarantined) != (msg != "") {
				t.Errorf("message %q for outcome %s", msg, d.Outcome)
			}
			for _, id := range tt.blocking {
				if !strings.Contains(msg, id) {
					t.Errorf("message %q does not name %s", msg, id)
				}
			}
		})
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestMessageNamesWorstAndHowToAllow(t *testing.T) {
	p := Policy{Pattern: "*", Threshold: vulndb.SeverityHigh}
	d := Decide(p, nil, "team/app", Scan{Status: metadata.ScanComplete,
		Findings: findings("L:LOW", "H1:HIGH", "C:CRITICAL", "H2:HIGH", "H3:HIGH")}, now)
	msg := d.Message("team/app")
	for _, want := range []string{"C (CRITICAL, pkg-C)", "H1 (HIGH, pkg-H1)", "H2 (HIGH", "and 1 more",
		"berth gate allow C --repo team/app", "gate *"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "L (") {
		t.Errorf("message %q names a finding below the threshold", msg)
	}
}

func TestFromSummaries(t *testing.T) {
	idx, a, b := digest.FromString("index"), digest.FromString("a"), digest.FromString("b")
	vulns := []metadata.ScanVuln{
		{ID: "GHSA-1", Package: "p", Severity: "HIGH"},
		{ID: "CVE-1", Package: "p", Severity: "HIGH", Finding: "GHSA-1"},
	}
	tests := []struct {
		name     string
		sums     []metadata.ScanSummary
		status   string
		findings string
	}{
		{"never scanned", nil, "", ""},
		{"image", []metadata.ScanSummary{{Digest: a, Status: metadata.ScanComplete, Vulns: vulns}},
			metadata.ScanComplete, "GHSA-1[CVE-1]"},
		{"index still pending itself", []metadata.ScanSummary{{Digest: idx, Status: metadata.ScanPending, Children: []digest.Digest{a}}},
			metadata.ScanPending, ""},
		{"index with a child never scanned", []metadata.ScanSummary{
			{Digest: idx, Status: metadata.ScanComplete, Children: []digest.Digest{a, b}},
			{Digest: a, Status: metadata.ScanComplete, Vulns: vulns}}, metadata.ScanScanning, "GHSA-1[CVE-1]"},
		{"index: failed child wins", []metadata.ScanSummary{
			{Digest: idx, Status: metadata.ScanComplete, Children: []digest.Digest{a, b}},
			{Digest: a, Status: metadata.ScanComplete, Vulns: vulns},
			{Digest: b, Status: metadata.ScanFailed}}, metadata.ScanFailed, "GHSA-1[CVE-1]"},
		{"index: the same finding in two children counts once", []metadata.ScanSummary{
			{Digest: idx, Status: metadata.ScanComplete, Children: []digest.Digest{a, b}},
			{Digest: a, Status: metadata.ScanComplete, Vulns: vulns},
			{Digest: b, Status: metadata.ScanPartial, Vulns: vulns}}, metadata.ScanPartial, "GHSA-1[CVE-1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := FromSummaries(tt.sums)
			if s.Status != tt.status {
				t.Errorf("status %q, want %q", s.Status, tt.status)
			}
			var got []string
			for _, f := range s.Findings {
				got = append(got, f.ID+"["+strings.Join(f.Aliases, ",")+"]")
			}
			if strings.Join(got, " ") != tt.findings {
				t.Errorf("findings %v, want %s", got, tt.findings)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      metadata.GatePolicy
		wantErr string
		want    Policy
	}{
		{metadata.GatePolicy{Pattern: "team/*", Severity: "high"}, "", Policy{Pattern: "team/*", Threshold: vulndb.SeverityHigh}},
		{metadata.GatePolicy{Pattern: "*", Quarantine: true, Unscanned: "deny", Unknown: "medium"}, "",
			Policy{Pattern: "*", Quarantine: true, FailClosed: true, Unknown: vulndb.SeverityMedium}},
		{metadata.GatePolicy{Pattern: "*", Severity: "severe"}, "severity", Policy{}},
		{metadata.GatePolicy{Pattern: "*", Severity: "HIGH", Unscanned: "maybe"}, "unscanned", Policy{}},
		{metadata.GatePolicy{Pattern: "*", Unknown: "HIGH"}, "refuses nothing", Policy{}},
		{metadata.GatePolicy{Pattern: "Team/*", Severity: "HIGH"}, "not allowed", Policy{}},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePolicy(%+v) = %v, want error with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePolicy(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
