package vulndb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// osvEntry is the subset of the OSV schema 1.x (ossf.github.io/osv-schema)
// that Berth uses. Unknown fields are ignored, as the schema asks.
type osvEntry struct {
	ID               string        `json:"id"`
	Modified         time.Time     `json:"modified"`
	Published        time.Time     `json:"published"`
	Withdrawn        *time.Time    `json:"withdrawn"`
	Aliases          []string      `json:"aliases"`
	Summary          string        `json:"summary"`
	Details          string        `json:"details"`
	Severity         []osvSeverity `json:"severity"`
	Affected         []osvAffected `json:"affected"`
	References       []osvRef      `json:"references"`
	DatabaseSpecific looseSeverity `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvRef struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	} `json:"package"`
	Severity          []osvSeverity `json:"severity"`
	Ranges            []osvRange    `json:"ranges"`
	Versions          []string      `json:"versions"`
	EcosystemSpecific looseSeverity `json:"ecosystem_specific"`
	DatabaseSpecific  looseSeverity `json:"database_specific"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

type osvEvent struct {
	Introduced   string `json:"introduced"`
	Fixed        string `json:"fixed"`
	LastAffected string `json:"last_affected"`
	Limit        string `json:"limit"`
}

// looseSeverity reads the "severity" member of a free-form object
// (database_specific, ecosystem_specific). Those objects belong to each
// database and have no schema, so anything that is not a string is ignored
// rather than failing the whole entry.
type looseSeverity struct {
	Severity string
	// WontFix is set by the markers distributions use for "no fix is
	// planned": Debian's urgency unimportant, end-of-life, no-dsa or
	// ignored, and a will_not_fix (or wont_fix) flag.
	WontFix bool
}

// wontFixUrgencies are Debian security tracker urgencies and statuses
// under which a fix is not planned.
var wontFixUrgencies = []string{"unimportant", "end-of-life", "no-dsa", "ignored"}

func (l *looseSeverity) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil //nolint:nilerr // not an object: nothing to read
	}
	var s string
	if raw, ok := m["severity"]; ok && json.Unmarshal(raw, &s) == nil {
		l.Severity = s
	}
	for _, k := range []string{"urgency", "status", "severity"} {
		var u string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &u) == nil {
			u = strings.Trim(strings.ToLower(strings.TrimSpace(u)), "<>")
			l.WontFix = l.WontFix || slices.Contains(wontFixUrgencies, u)
		}
	}
	for _, k := range []string{"will_not_fix", "wont_fix"} {
		var b bool
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &b) == nil {
			l.WontFix = l.WontFix || b
		}
	}
	return nil
}

// parseOSV decodes one OSV entry. b must already be bounded by the caller.
func parseOSV(b []byte) (*osvEntry, error) {
	var e osvEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding OSV JSON: %w", err)
	}
	if strings.TrimSpace(e.ID) == "" {
		return nil, fmt.Errorf("OSV entry has no id")
	}
	return &e, nil
}

// advisory converts a parsed entry into its matching form.
func (e *osvEntry) advisory() *Advisory {
	a := &Advisory{
		ID:        e.ID,
		Aliases:   e.Aliases,
		Summary:   e.Summary,
		Details:   e.Details,
		Modified:  e.Modified,
		Published: e.Published,
	}
	for _, r := range e.References {
		if r.URL != "" {
			a.References = append(a.References, r.URL)
		}
	}
	sev := e.Severity
	text := e.DatabaseSpecific.Severity
	a.WontFix = e.DatabaseSpecific.WontFix
	for _, af := range e.Affected {
		base, release := SplitEcosystem(af.Package.Ecosystem)
		x := Affected{
			Ecosystem: base,
			Release:   release,
			Name:      af.Package.Name,
			PURL:      af.Package.PURL,
			Versions:  af.Versions,
		}
		if len(af.Ranges) > 0 {
			x.Ranges = make([]Range, 0, len(af.Ranges))
		}
		for _, r := range af.Ranges {
			rg := Range{Type: RangeType(strings.ToUpper(r.Type))}
			if len(r.Events) > 0 {
				rg.Events = make([]Event, 0, len(r.Events))
			}
			for _, ev := range r.Events {
				rg.Events = append(rg.Events, Event(ev))
			}
			x.Ranges = append(x.Ranges, rg)
		}
		a.Affected = append(a.Affected, x)
		// Per-package severity is only a fallback: OSV puts the
		// advisory's own score at the top level.
		if len(sev) == 0 {
			sev = af.Severity
		}
		if text == "" {
			text = af.DatabaseSpecific.Severity
		}
		if text == "" {
			text = af.EcosystemSpecific.Severity
		}
		a.WontFix = a.WontFix || af.DatabaseSpecific.WontFix || af.EcosystemSpecific.WontFix
	}
	a.Severity, a.CVSSScore, a.CVSSVector = severityOf(sev, text)
	return a
}

// SplitEcosystem splits an OSV ecosystem into its base and the distribution
// release: "Debian:12" → ("Debian", "12"), "Alpine:v3.19" → ("Alpine",
// "v3.19"), "Ubuntu:22.04:LTS" → ("Ubuntu", "22.04:LTS"), "npm" → ("npm", "").
func SplitEcosystem(e string) (base, release string) {
	base, release, _ = strings.Cut(e, ":")
	return base, release
}
