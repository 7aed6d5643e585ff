package vulndb

import (
	"math"
	"strings"

	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity is the qualitative severity of an advisory.
type Severity string

// The severities, from the CVSS qualitative rating scale. UNKNOWN is given
// when an advisory carries neither a usable CVSS vector nor a severity word;
// the gate decides how to treat it.
const (
	SeverityUnknown  Severity = "UNKNOWN"
	SeverityLow      Severity = "LOW"
	SeverityMedium   Severity = "MEDIUM"
	SeverityHigh     Severity = "HIGH"
	SeverityCritical Severity = "CRITICAL"
)

// Rank orders severities: UNKNOWN 0, LOW 1 … CRITICAL 4.
func (s Severity) Rank() int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// FromScore rates a CVSS base score (v3.x and v4.0 share the scale). A score
// of 0.0 ("None" in CVSS) is rated LOW rather than dropped, because the
// advisory still names the package as affected.
func FromScore(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	}
	return SeverityLow
}

// ParseSeverity maps the severity words databases use (GitHub "MODERATE",
// Red Hat "Important", Ubuntu "negligible", Debian "unimportant") to a
// Severity; anything else is UNKNOWN.
func ParseSeverity(s string) Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical
	case "high", "important":
		return SeverityHigh
	case "medium", "moderate":
		return SeverityMedium
	case "low", "negligible", "unimportant", "minor":
		return SeverityLow
	}
	return SeverityUnknown
}

// CVSSBaseScore computes the base score of a CVSS v3.0, v3.1 or v4.0 vector.
// ok is false for any other or malformed vector.
func CVSSBaseScore(vector string) (score float64, ok bool) {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.Score(), true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	}
	return 0, false
}

// severityOf picks an advisory's severity: the newest CVSS version present
// (v4.0, then v3.x) computed from its vector; else a severity word (OSV
// "Ubuntu" severity, database_specific or ecosystem_specific); else UNKNOWN.
// Newest first because a database that took the trouble to publish a v4.0
// vector means it to supersede the v3.1 one it keeps for older tools.
func severityOf(sev []osvSeverity, text string) (Severity, float64, string) {
	best, bestScore, bestVector := -1, 0.0, ""
	for _, s := range sev {
		rank := map[string]int{"CVSS_V3": 1, "CVSS_V4": 2}[strings.ToUpper(s.Type)]
		if rank == 0 || rank <= best {
			continue
		}
		if score, ok := CVSSBaseScore(strings.TrimSpace(s.Score)); ok && !math.IsNaN(score) {
			best, bestScore, bestVector = rank, score, strings.TrimSpace(s.Score)
		}
	}
	if best > 0 {
		return FromScore(bestScore), bestScore, bestVector
	}
	for _, s := range sev {
		if strings.EqualFold(s.Type, "Ubuntu") {
			if v := ParseSeverity(s.Score); v != SeverityUnknown {
				return v, 0, ""
			}
		}
	}
	return ParseSeverity(text), 0, ""
}
