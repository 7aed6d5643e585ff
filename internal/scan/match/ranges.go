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
	v    version
}

// compiledPkg is every advisory naming one package, laid out for matching:
// releases, version lists and parsed, sorted range events side by side, so
// that evaluating hundreds of candidates per image touches few cache lines
// (chasing pointers through the snapshot was most of a re-match).
type compiledPkg struct {
	cands  []ccand
	ranges []crange
	events []pevent
	errs   map[int]error // by range index, for ranges marked bad
}

type ccand struct {
	adv      *vulndb.Advisory
	affected *vulndb.Affected
	r0, r1   int32 // ranges[r0:r1]
}

// crange is an ECOSYSTEM or SEMVER range with its events sorted by version,
// as the OSV evaluation asks. "introduced: 0", which opens the range below
// every version, is the flag open rather than an event: nearly every range
// starts with it. A range with a version that does not parse is skipped;
// its error is in the compiledPkg's errs.
type crange struct {
	e0, e1 int32 // events[e0:e1]
	open   bool
	bad    bool // errs holds why
}

// compile lays out the candidates of one package. Its slices are sized
// exactly, and its parsed versions come from the Matcher's version cache:
// advisories of one package repeat the same fixed versions (one upload
// fixes many CVEs), so a re-match holds each parse once.
func (m *matcher) compile(eco string, cands []vulndb.Candidate, parse parseFunc) *compiledPkg {
	nr, ne := 0, 0
	for _, c := range cands {
		for _, r := range c.Affected.Ranges {
			if r.Type == vulndb.RangeEcosystem || r.Type == vulndb.RangeSemver {
				nr++
				for _, e := range r.Events {
					if e.Introduced != "0" {
						ne++
					}
				}
			}
		}
	}
	cp := &compiledPkg{cands: make([]ccand, len(cands)), ranges: make([]crange, 0, nr), events: make([]pevent, 0, ne)}
	cached := func(s string) (version, error) { return m.installed(eco, s, parse) }
	for i, c := range cands {
		af := c.Affected
		cc := ccand{adv: c.Advisory, affected: af, r0: int32(len(cp.ranges))}
		for _, r := range af.Ranges {
			// GIT ranges name commits, which an inventory does not have.
			if r.Type != vulndb.RangeEcosystem && r.Type != vulndb.RangeSemver {
				continue
			}
			cr, err := cp.compileRange(r, cached)
			if err != nil {
				if cp.errs == nil {
					cp.errs = make(map[int]error)
				}
				cp.errs[len(cp.ranges)] = err
			}
			cp.ranges = append(cp.ranges, cr)
		}
		cc.r1 = int32(len(cp.ranges))
		cp.cands[i] = cc
	}
	return cp
}

func (cp *compiledPkg) compileRange(r vulndb.Range, parse parseFunc) (crange, error) {
	start := len(cp.events)
	open := false
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
		if pe.kind == introduced && pe.raw == "0" {
			open = true
			continue
		}
		v, err := parse(pe.raw)
		if err != nil {
			cp.events = cp.events[:start]
			return crange{e0: int32(start), e1: int32(start), bad: true}, err
		}
		pe.v = v
		cp.events = append(cp.events, pe)
	}
	evs := cp.events[start:]
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].v.cmp(evs[j].v) < 0 })
	return crange{e0: int32(start), e1: int32(len(cp.events)), open: open}, nil
}

// compiled returns the compiled form of package n of the snapshot, building
// it on first use. Two goroutines may both build it the first time; the
// results are equal and one is kept.
func (m *matcher) compiled(n int, eco string, cands []vulndb.Candidate, parse parseFunc) *compiledPkg {
	slot := &m.pkgs[n]
	if cp := slot.Load(); cp != nil {
		return cp
	}
	slot.CompareAndSwap(nil, m.compile(eco, cands, parse))
	return slot.Load()
}

// affected evaluates one advisory entry for the installed version: the
// explicit versions list, then every ECOSYSTEM and SEMVER range as the OSV
// specification evaluates them (introduced opens; fixed and limit close at
// their version; last_affected closes after it). fixedVersions lists the
// fixed versions above the installed one in the ranges that matched, lowest
// first within a range.
func (m *matcher) affected(installed version, raw string, cp *compiledPkg, cc *ccand) (hit bool, fixedVersions []string) {
	for _, s := range cc.affected.Versions {
		// Go inventories write "v1.2.3", OSV Go entries "1.2.3".
		if s == raw || cc.affected.Ecosystem == "Go" && strings.TrimPrefix(raw, "v") == s {
			hit = true
			break
		}
	}
	for ri := cc.r0; ri < cc.r1; ri++ {
		r := &cp.ranges[ri]
		if r.bad {
			m.note("%s (%s %s): range skipped: %v", cc.adv.ID, cc.affected.Ecosystem, cc.affected.Name, cp.errs[int(ri)])
			continue
		}
		evs := cp.events[r.e0:r.e1]
		in := r.open
		for _, e := range evs {
			switch e.kind {
			case introduced:
				if installed.cmp(e.v) >= 0 {
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
