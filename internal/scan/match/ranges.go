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

// compiledPkg is every advisory naming one package, laid out for matching:
// releases, version lists and parsed, sorted range events side by side, so
// that evaluating hundreds of candidates per image touches few cache lines
// (chasing pointers through the snapshot was most of a re-match).
type compiledPkg struct {
	cands  []ccand
	ranges []crange
	events []pevent
}

type ccand struct {
	adv      *vulndb.Advisory
	affected *vulndb.Affected
	release  string
	versions []string
	r0, r1   int32 // ranges[r0:r1]
}

// crange is an ECOSYSTEM or SEMVER range with its events sorted by version,
// "introduced: 0" first, as the OSV evaluation asks; err is set when one of
// its versions does not parse, and the range is then skipped.
type crange struct {
	e0, e1 int32 // events[e0:e1]
	err    error
}

func compile(cands []vulndb.Candidate, parse parseFunc) *compiledPkg {
	cp := &compiledPkg{cands: make([]ccand, len(cands))}
	for i, c := range cands {
		af := c.Affected
		cc := ccand{adv: c.Advisory, affected: af, release: af.Release, versions: af.Versions, r0: int32(len(cp.ranges))}
		for _, r := range af.Ranges {
			// GIT ranges name commits, which an inventory does not have.
			if r.Type != vulndb.RangeEcosystem && r.Type != vulndb.RangeSemver {
				continue
			}
			cp.ranges = append(cp.ranges, cp.compileRange(r, parse))
		}
		cc.r1 = int32(len(cp.ranges))
		cp.cands[i] = cc
	}
	return cp
}

func (cp *compiledPkg) compileRange(r vulndb.Range, parse parseFunc) crange {
	start := len(cp.events)
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
			v, err := parseBounded(parse, pe.raw)
			if err != nil {
				cp.events = cp.events[:start]
				return crange{e0: int32(start), e1: int32(start), err: err}
			}
			pe.v = v
		}
		cp.events = append(cp.events, pe)
	}
	evs := cp.events[start:]
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].v, evs[j].v
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.cmp(b) < 0
	})
	return crange{e0: int32(start), e1: int32(len(cp.events))}
}

// compiled returns the compiled form of package n of the snapshot, building
// it on first use. Two goroutines may both build it the first time; the
// results are equal and one is kept.
func (m *matcher) compiled(n int, cands []vulndb.Candidate, parse parseFunc) *compiledPkg {
	slot := &m.pkgs[n]
	if cp := slot.Load(); cp != nil {
		return cp
	}
	slot.CompareAndSwap(nil, compile(cands, parse))
	return slot.Load()
}

// affected evaluates one advisory entry for the installed version: the
// explicit versions list, then every ECOSYSTEM and SEMVER range as the OSV
// specification evaluates them (introduced opens; fixed and limit close at
// their version; last_affected closes after it). fixedVersions lists the
// fixed versions above the installed one in the ranges that matched, lowest
// first within a range.
func (m *matcher) affected(installed version, raw string, cp *compiledPkg, cc *ccand) (hit bool, fixedVersions []string) {
	for _, s := range cc.versions {
		// Go inventories write "v1.2.3", OSV Go entries "1.2.3".
		if s == raw || cc.affected.Ecosystem == "Go" && strings.TrimPrefix(raw, "v") == s {
			hit = true
			break
		}
	}
	for _, r := range cp.ranges[cc.r0:cc.r1] {
		if r.err != nil {
			m.note("%s (%s %s): range skipped: %v", cc.adv.ID, cc.affected.Ecosystem, cc.affected.Name, r.err)
			continue
		}
		evs := cp.events[r.e0:r.e1]
		in := false
		for _, e := range evs {
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
		for _, e := range evs {
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
