package match

import (
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// affected evaluates one advisory entry for the installed version: the
// explicit versions list, then every ECOSYSTEM and SEMVER range as the OSV
// specification evaluates them (events sorted by version, "introduced: 0"
// lowest; introduced opens, fixed and limit close at their version,
// last_affected closes after it). fixed lists the fixed versions above the
// installed one in the ranges that matched, lowest first.
func (m *matcher) affected(installed version, raw string, c vulndb.Candidate, parse parseFunc) (hit bool, fixed []string) {
	af := c.Affected
	for _, s := range af.Versions {
		// Go inventories write "v1.2.3", OSV Go entries "1.2.3".
		if s == raw || af.Ecosystem == "Go" && strings.TrimPrefix(raw, "v") == s {
			hit = true
			break
		}
	}
	type ev struct {
		vulndb.Event
		v version // nil for introduced "0"
	}
	var evs []ev
	for _, r := range af.Ranges {
		if r.Type != vulndb.RangeEcosystem && r.Type != vulndb.RangeSemver {
			continue
		}
		evs = evs[:0]
		ok := true
		for _, e := range r.Events {
			s := e.Introduced + e.Fixed + e.LastAffected + e.Limit
			if e.Introduced == "0" {
				evs = append(evs, ev{Event: e})
				continue
			}
			v, err := parse(s)
			if err != nil {
				m.note("%s (%s %s): range skipped: %v", c.Advisory.ID, af.Ecosystem, af.Name, err)
				ok = false
				break
			}
			evs = append(evs, ev{Event: e, v: v})
		}
		if !ok || len(evs) == 0 {
			continue
		}
		sort.SliceStable(evs, func(i, j int) bool {
			if evs[i].v == nil || evs[j].v == nil {
				return evs[i].v == nil && evs[j].v != nil
			}
			return evs[i].v.cmp(evs[j].v) < 0
		})
		in := false
		for _, e := range evs {
			switch {
			case e.Introduced != "":
				if e.v == nil || installed.cmp(e.v) >= 0 {
					in = true
				}
			case e.Fixed != "":
				if installed.cmp(e.v) >= 0 {
					in = false
				}
			case e.LastAffected != "":
				if installed.cmp(e.v) > 0 {
					in = false
				}
			case e.Limit != "":
				if installed.cmp(e.v) >= 0 {
					in = false
				}
			}
		}
		if !in {
			continue
		}
		hit = true
		for _, e := range evs {
			if e.Fixed != "" && installed.cmp(e.v) < 0 {
				fixed = appendFixed(fixed, e.Fixed)
			}
		}
	}
	return hit, sortFixed(fixed, parse)
}

func appendFixed(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// sortFixed orders fixed versions lowest first; they all parsed already.
func sortFixed(list []string, parse parseFunc) []string {
	if len(list) < 2 {
		return list
	}
	vs := make([]version, len(list))
	for i, s := range list {
		vs[i], _ = parse(s)
	}
	idx := make([]int, len(list))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return vs[idx[a]].cmp(vs[idx[b]]) < 0 })
	out := make([]string, len(list))
	for i, j := range idx {
		out[i] = list[j]
	}
	return out
}
