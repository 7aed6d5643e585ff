// Package gate decides whether a pull of a scanned image may proceed
// (docs/scanning.md#gates): quarantine until the scan has finished, refuse
// images with findings at or above a severity unless an exception covers
// them, and fail open or closed for images that could not be scanned.
//
// decide.go is the pure decision; gate.go caches the stored policies and
// exceptions and is the registry's pull hook.
package gate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Values of metadata.GatePolicy.Unscanned.
const (
	FailOpen   = "allow"
	FailClosed = "deny"
)

// Policy is a validated gate policy.
type Policy struct {
	Pattern    string
	Quarantine bool
	// Threshold refuses findings at or above it; "" refuses none.
	Threshold vulndb.Severity
	// FailClosed refuses images whose scan failed or could not run, and
	// (without quarantine) images not scanned yet.
	FailClosed bool
	// Unknown is what an UNKNOWN finding counts as; "" never refuses.
	Unknown vulndb.Severity
}

// severities a policy may name, from the lowest.
var severities = []vulndb.Severity{vulndb.SeverityLow, vulndb.SeverityMedium, vulndb.SeverityHigh, vulndb.SeverityCritical}

// ParsePolicy validates a stored policy and normalises its words
// (severities upper case, unscanned defaulting to allow).
func ParsePolicy(p metadata.GatePolicy) (Policy, error) {
	if err := authz.ValidPattern(p.Pattern); err != nil {
		return Policy{}, err
	}
	out := Policy{Pattern: p.Pattern, Quarantine: p.Quarantine}
	var err error
	if out.Threshold, err = parseSeverity("severity", p.Severity); err != nil {
		return Policy{}, err
	}
	if out.Unknown, err = parseSeverity("unknown", p.Unknown); err != nil {
		return Policy{}, err
	}
	switch strings.ToLower(p.Unscanned) {
	case "", FailOpen:
	case FailClosed:
		out.FailClosed = true
	default:
		return Policy{}, fmt.Errorf("unscanned %q: want %s or %s", p.Unscanned, FailOpen, FailClosed)
	}
	if !out.Quarantine && out.Threshold == "" && !out.FailClosed {
		return Policy{}, fmt.Errorf("gate %q refuses nothing: set quarantine, a severity or unscanned %s", p.Pattern, FailClosed)
	}
	return out, nil
}

// Stored is p as metadata keeps it.
func (p Policy) Stored() metadata.GatePolicy {
	un := FailOpen
	if p.FailClosed {
		un = FailClosed
	}
	return metadata.GatePolicy{Pattern: p.Pattern, Quarantine: p.Quarantine, Severity: string(p.Threshold),
		Unscanned: un, Unknown: string(p.Unknown)}
}

func parseSeverity(field, s string) (vulndb.Severity, error) {
	if s == "" || strings.EqualFold(s, "none") {
		return "", nil
	}
	sev := vulndb.Severity(strings.ToUpper(s))
	if !slices.Contains(severities, sev) {
		return "", fmt.Errorf("%s %q: want LOW, MEDIUM, HIGH, CRITICAL or none", field, s)
	}
	return sev, nil
}

// Finding is one finding as a gate weighs it.
type Finding struct {
	ID       string          `json:"id"`
	Aliases  []string        `json:"aliases,omitempty"`
	Package  string          `json:"package"`
	Severity vulndb.Severity `json:"severity"`
}

// Scan is an image's scan as a gate sees it: the aggregate status of an
// index, and the findings of every image in it.
type Scan struct {
	// Status is a metadata.Scan* status, or "" when never scanned.
	Status   string
	Reason   string
	Findings []Finding
}

// FromSummaries builds the Scan of d from GateScans' answer: an index is
// still scanning while a child has no finished scan, and failed if one
// failed, as the scanner aggregates it.
func FromSummaries(sums []metadata.ScanSummary) Scan {
	if len(sums) == 0 {
		return Scan{}
	}
	top := sums[0]
	s := Scan{Status: top.Status, Reason: top.Reason}
	byDigest := make(map[string]metadata.ScanSummary, len(sums))
	for _, sum := range sums {
		byDigest[sum.Digest.String()] = sum
	}
	images := []metadata.ScanSummary{top}
	if len(top.Children) > 0 && top.Status != metadata.ScanPending && top.Status != metadata.ScanScanning {
		images = images[:0]
		statuses := make([]string, 0, len(top.Children))
		for _, c := range top.Children {
			child, ok := byDigest[c.String()]
			if !ok {
				statuses = append(statuses, metadata.ScanPending)
				continue
			}
			statuses = append(statuses, child.Status)
			images = append(images, child)
		}
		s.Status = scanner.Aggregate(statuses)
	}
	type key struct{ id, pkg string }
	at := map[key]int{}
	for _, img := range images {
		for _, v := range img.Vulns {
			id := cmp.Or(v.Finding, v.ID)
			k := key{id, v.Package}
			i, ok := at[k]
			if !ok {
				i = len(s.Findings)
				at[k] = i
				s.Findings = append(s.Findings, Finding{ID: id, Package: v.Package, Severity: vulndb.Severity(v.Severity)})
			}
			if v.Finding != "" && !slices.Contains(s.Findings[i].Aliases, v.ID) {
				s.Findings[i].Aliases = append(s.Findings[i].Aliases, v.ID)
			}
		}
	}
	return s
}

// Outcomes of a decision.
const (
	Allow       = "allow"
	Quarantined = "quarantined"
	Denied      = "denied"
	// Excepted: allowed only because exceptions cover the findings that
	// would have refused the pull.
	Excepted = "excepted"
)

// Decision is a gate's answer about one pull.
type Decision struct {
	Outcome string `json:"outcome"`
	Gate    string `json:"gate"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	// Blocking are the findings that refused the pull, worst first.
	Blocking []Finding `json:"blocking,omitempty"`
	// Excepted are the findings at or above the threshold that exceptions
	// let through, with the exception that did.
	Excepted []ExceptedFinding `json:"excepted,omitempty"`
}

// ExceptedFinding is a finding an exception let through.
type ExceptedFinding struct {
	Finding
	Exception metadata.GateException `json:"exception"`
}

// Decide applies p and the exceptions to the scan of an image of repo.
// Expired exceptions and those whose pattern does not match repo are
// ignored.
func Decide(p Policy, exceptions []metadata.GateException, repo string, s Scan, now time.Time) Decision {
	d := Decision{Outcome: Allow, Gate: p.Pattern, Status: cmp.Or(s.Status, "not scanned")}
	unscanned := func(reason string) Decision {
		if p.FailClosed {
			d.Outcome = Denied
		}
		d.Reason = reason
		return d
	}
	switch s.Status {
	case "", metadata.ScanPending, metadata.ScanScanning:
		if p.Quarantine {
			d.Outcome, d.Reason = Quarantined, "quarantined until the scan finishes ("+d.Status+")"
			return d
		}
		return unscanned("the scan has not finished (" + d.Status + ")")
	case metadata.ScanFailed:
		return unscanned("the scan failed: " + s.Reason)
	case metadata.ScanSkipped:
		if s.Reason == scanner.ReasonNoDatabase {
			return unscanned("not scanned: no vulnerability database")
		}
		d.Reason = "not a container image"
		return d // signatures, SBOMs, charts: nothing to scan
	}
	if p.Threshold == "" {
		return d
	}
	for _, f := range s.Findings {
		if rank(f.Severity, p.Unknown) < p.Threshold.Rank() {
			continue
		}
		if e, ok := exceptionFor(f, exceptions, repo, now); ok {
			d.Excepted = append(d.Excepted, ExceptedFinding{Finding: f, Exception: e})
			continue
		}
		d.Blocking = append(d.Blocking, f)
	}
	slices.SortStableFunc(d.Blocking, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(rank(b.Severity, p.Unknown), rank(a.Severity, p.Unknown)), cmp.Compare(a.ID, b.ID))
	})
	switch {
	case len(d.Blocking) > 0:
		d.Outcome = Denied
		d.Reason = fmt.Sprintf("%d finding(s) at or above %s", len(d.Blocking), p.Threshold)
	case len(d.Excepted) > 0:
		d.Outcome = Excepted
		d.Reason = fmt.Sprintf("%d finding(s) at or above %s allowed by exception", len(d.Excepted), p.Threshold)
	}
	return d
}

// rank is the severity rank a finding is weighed at; UNKNOWN counts as
// unknown, or never reaches a threshold (-1).
func rank(s, unknown vulndb.Severity) int {
	if s == vulndb.SeverityUnknown || s == "" {
		if unknown == "" {
			return -1
		}
		return unknown.Rank()
	}
	return s.Rank()
}

// exceptionFor finds an exception in force for f's id or an alias.
func exceptionFor(f Finding, exceptions []metadata.GateException, repo string, now time.Time) (metadata.GateException, bool) {
	for _, e := range exceptions {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			continue
		}
		if !authz.Match(e.Pattern, repo) {
			continue
		}
		if strings.EqualFold(e.ID, f.ID) || slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.EqualFold(a, e.ID) }) {
			return e, true
		}
	}
	return metadata.GateException{}, false
}

// maxNamed bounds the findings a refusal names.
const maxNamed = 3

// Message is the text of a refusal: what refused the pull, the worst
// findings, and how to ask for an exception.
func (d Decision) Message(repo string) string {
	var b strings.Builder
	switch d.Outcome {
	case Quarantined:
		fmt.Fprintf(&b, "%s: %s (gate %s); retry when it is done", repo, d.Reason, d.Gate)
		return b.String()
	case Denied:
	default:
		return ""
	}
	if len(d.Blocking) == 0 {
		fmt.Fprintf(&b, "%s: pull refused by gate %s: %s (the gate fails closed)", repo, d.Gate, d.Reason)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: pull refused by gate %s: %s:", repo, d.Gate, d.Reason)
	for i, f := range d.Blocking {
		if i == maxNamed {
			fmt.Fprintf(&b, " and %d more", len(d.Blocking)-maxNamed)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		id := f.ID
		if c := cveOf(f); c != id {
			id += " [" + c + "]"
		}
		fmt.Fprintf(&b, " %s (%s, %s)", id, f.Severity, f.Package)
	}
	fmt.Fprintf(&b, "; to allow one: berth gate allow %s --repo %s --reason '…' --expires 30d", cveOf(d.Blocking[0]), repo)
	return b.String()
}

// cveOf is the id an exception is best asked for by: the CVE a finding
// aliases, which every database names alike, else its own id.
func cveOf(f Finding) string {
	if strings.HasPrefix(f.ID, "CVE-") {
		return f.ID
	}
	for _, a := range f.Aliases {
		if strings.HasPrefix(a, "CVE-") {
			return a
		}
	}
	return f.ID
}
