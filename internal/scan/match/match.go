package match

import (
	"fmt"
	"sort"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// FixStatus says whether a fixed version exists.
type FixStatus string

// The fix statuses.
const (
	Fixed    FixStatus = "fixed"
	NotFixed FixStatus = "not-fixed"
)

// Finding is one advisory affecting one installed package.
type Finding struct {
	ID         string          `json:"id"`
	Aliases    []string        `json:"aliases,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	Details    string          `json:"details,omitempty"`
	Severity   vulndb.Severity `json:"severity"`
	CVSSScore  float64         `json:"cvssScore,omitempty"`
	CVSSVector string          `json:"cvssVector,omitempty"`
	References []string        `json:"references,omitempty"`
	// Package is the installed package's name (the binary package for a
	// distribution; Source names the source package advisories use).
	Package          string              `json:"package"`
	Source           string              `json:"source,omitempty"`
	Ecosystem        inventory.Ecosystem `json:"ecosystem"`
	PURL             string              `json:"purl"`
	InstalledVersion string              `json:"installedVersion"`
	// FixedVersions are the fixed versions above the installed one, lowest
	// first.
	FixedVersions []string  `json:"fixedVersions,omitempty"`
	FixStatus     FixStatus `json:"fixStatus"`
	Layer         string    `json:"layer,omitempty"`
	Path          string    `json:"path,omitempty"`
	DBVersion     string    `json:"dbVersion"`
}

// Result is a match with the notes on what could not be matched.
type Result struct {
	Findings []Finding
	// Notes name packages or advisory ranges that were skipped because a
	// version did not parse or the ecosystem is not supported (capped).
	Notes []string
}

const maxNotes = 100

// Match returns the findings of inv against db, most severe first.
func Match(inv *inventory.Inventory, db *vulndb.DB) []Finding {
	return Run(inv, db).Findings
}

// Run is Match with notes. It never fails: what cannot be compared is
// skipped and noted, never reported as affected or as clean.
func Run(inv *inventory.Inventory, db *vulndb.DB) Result {
	var r Result
	if inv == nil || db == nil {
		return r
	}
	m := matcher{db: db, res: &r, seen: map[dedupKey]bool{}}
	for i := range inv.Packages {
		m.pkg(&inv.Packages[i], inv.OS)
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := &r.Findings[i], &r.Findings[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package < b.Package
	})
	return r
}

type dedupKey struct{ id, eco, name, version string }

type matcher struct {
	db   *vulndb.DB
	res  *Result
	seen map[dedupKey]bool
}

func (m *matcher) note(format string, args ...any) {
	if len(m.res.Notes) < maxNotes {
		m.res.Notes = append(m.res.Notes, fmt.Sprintf(format, args...))
	}
}

func (m *matcher) pkg(p *inventory.Package, o inventory.OS) {
	t, why := targetOf(p, o)
	if why != "" {
		m.note("%s: %s", p.PURL, why)
		return
	}
	cands := m.db.Lookup(t.ecosystem, t.name)
	if len(cands) == 0 {
		return
	}
	parse := orders[t.ecosystem]
	if parse == nil {
		m.note("%s: no version order for ecosystem %s", p.PURL, t.ecosystem)
		return
	}
	installed, err := parse(t.version)
	if err != nil {
		m.note("%s: installed version not comparable: %v", p.PURL, err)
		return
	}
	for _, c := range cands {
		if t.release != nil && !t.release(c.Affected.Release) {
			continue
		}
		k := dedupKey{c.Advisory.ID, string(p.Ecosystem), p.Name, p.Version}
		if m.seen[k] {
			continue
		}
		hit, fixed := m.affected(installed, t.version, c, parse)
		if !hit {
			continue
		}
		m.seen[k] = true
		m.res.Findings = append(m.res.Findings, finding(p, t, c.Advisory, fixed, m.db.Version()))
	}
}

func finding(p *inventory.Package, t target, a *vulndb.Advisory, fixed []string, dbv string) Finding {
	f := Finding{
		ID: a.ID, Aliases: a.Aliases, Summary: a.Summary, Details: a.Details,
		Severity: a.Severity, CVSSScore: a.CVSSScore, CVSSVector: a.CVSSVector,
		References: a.References,
		Package:    p.Name, Ecosystem: p.Ecosystem, PURL: p.PURL,
		InstalledVersion: p.Version, FixedVersions: fixed, FixStatus: NotFixed,
		Layer: string(p.Layer), Path: p.Path, DBVersion: dbv,
	}
	if f.Severity == "" {
		f.Severity = vulndb.SeverityUnknown
	}
	if t.name != p.Name {
		f.Source = t.name
	}
	if len(fixed) > 0 {
		f.FixStatus = Fixed
	}
	return f
}
