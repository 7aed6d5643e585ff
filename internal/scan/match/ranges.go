package match

import (
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/scan/vulndb"
)

type eventKind uint8

const (
	introduced eventKind = iota
	fixed
	lastAffected
	limit
)

type pevent struct {
	kind eventKind
	raw  string
	v    version // nil for "introduced: 0"
}

// parsedRange is an OSV range with its versions parsed and its events sorted
// by version, "introduced: 0" first, as the OSV evaluation asks.
type parsedRange struct {
	events []pevent
	err    error
}

func parseRange(r *vulndb.Range, parse parseFunc) *parsedRange {
	pr := &parsedRange{events: make([]pevent, 0, len(r.Events))}
	for _, e := range r.Events {
		var pe pevent
		switch {
		case e.Introduced != "":
			pe = pevent{kind: introduced, raw: e.Introduced}
		case e.Fixed != "":
			pe = pevent{kind: fixed, raw: e.Fixed}
		case e.LastAffected != "":
			pe = pevent{kind: lastAffected, raw: e.LastAffected}
		case e.Limit != "":
			pe = pevent{kind: limit, raw: e.Limit}
		default:
			continue
		}
		if !(pe.kind == introduced && pe.raw == "0") {
			v, err := parse(pe.raw)
			if err != nil {
				return &parsedRange{err: err}
			}
			pe.v = v
		}
		pr.events = append(pr.events, pe)
	}
	sort.SliceStable(pr.events, func(i, j int) bool {
		a, b := pr.events[i].v, pr.events[j].v
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.cmp(b) < 0
	})
	return pr
}

// rangeOf parses r once per Matcher. Two goroutines may both parse a range
// the first time; both results are equal and one is kept.
func (m *matcher) rangeOf(r *vulndb.Range, parse parseFunc) *parsedRange {
	if r.Seq < 0 || r.Seq >= len(m.ranges) {
		return parseRange(r, parse) // not from this snapshot
	}
	slot := &m.ranges[r.Seq]
	if pr := slot.Load(); pr != nil {
		return pr
	}
	pr := parseRange(r, parse)
	slot.CompareAndSwap(nil, pr)
	return slot.Load()
}

// affected evaluates one advisory entry for the installed version: the
// explicit versions list, then every ECOSYSTEM and SEMVER range as the OSV
// specification evaluates them (introduced opens; fixed and limit close at
// their version; last_affected closes after it). GIT ranges name commits an
// inventory does not have and are ignored. fixedVersions lists the fixed
// versions above the installed one in the ranges that matched, lowest first.
func (m *matcher) affected(installed version, raw string, c vulndb.Candidate, parse parseFunc) (hit bool, fixedVersions []string) {
	af := c.Affected
	for _, s := range af.Versions {
		// Go inventories write "v1.2.3", OSV Go entries "1.2.3".
		if s == raw || af.Ecosystem == "Go" && strings.TrimPrefix(raw, "v") == s {
			hit = true
			break
		}
	}
	for i := range af.Ranges {
		r := &af.Ranges[i]
		if r.Type != vulndb.RangeEcosystem && r.Type != vulndb.RangeSemver {
			continue
		}
		pr := m.rangeOf(r, parse)
		if pr.err != nil {
			m.note("%s (%s %s): range skipped: %v", c.Advisory.ID, af.Ecosystem, af.Name, pr.err)
			continue
		}
		in := false
		for _, e := range pr.events {
			switch e.kind {
			case introduced:
				if e.v == nil || installed.cmp(e.v) >= 0 {
					in = true
				}
			case fixed, limit:
				if installed.cmp(e.v) >= 0 {
					in = false
				}
			case lastAffected:
				if installed.cmp(e.v) > 0 {
					in = false
				}
			}
		}
		if !in {
			continue
		}
		hit = true
		// Events are sorted, so fixes above the installed version come
		// out lowest first within a range.
		for _, e := range pr.events {
			if e.kind == fixed && installed.cmp(e.v) < 0 && !contains(fixedVersions, e.raw) {
				fixedVersions = append(fixedVersions, e.raw)
			}
		}
	}
	return hit, fixedVersions
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
