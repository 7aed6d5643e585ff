package match

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// FixStatus says whether a fixed version exists.
type FixStatus string

// The fix statuses.
const (
	Fixed    FixStatus = "fixed"
	NotFixed FixStatus = "not-fixed"
	// WillNotFix: no fixed version, and the source says none is planned.
	WillNotFix FixStatus = "will-not-fix"
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
	// FixedVersions are the fixed versions above the installed one, in
	// the advisory's range order, lowest first within a range.
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
	return New(db).Run(inv)
}

// Matcher matches inventories against one snapshot, remembering the ranges
// it has parsed: re-matching thousands of stored inventories after a
// database update parses each advisory range once, not once per image. It is
// safe for concurrent use.
type Matcher struct {
	db *vulndb.DB
	// versions caches parsed installed versions: stored inventories repeat
	// the same package versions across thousands of images.
	versions versionCache
	// pkgs holds each package's advisories compiled for matching, by the
	// snapshot's package number; filled on first use.
	pkgs []atomic.Pointer[compiledPkg]
}

// New returns a Matcher for db (which may be nil: nothing matches).
func New(db *vulndb.DB) *Matcher {
	m := &Matcher{db: db}
	if db != nil {
		m.pkgs = make([]atomic.Pointer[compiledPkg], db.Packages())
	}
	return m
}

// Run matches inv. See the package Run.
func (mt *Matcher) Run(inv *inventory.Inventory) Result {
	var r Result
	if inv == nil || mt == nil || mt.db == nil {
		return r
	}
	m := matcher{Matcher: mt, db: mt.db, res: &r}
	if hp, ok := hitPool.Get().(*[]hit); ok {
		m.hits = (*hp)[:0]
	}
	for i := range inv.Packages {
		m.pkg(inv, i)
	}
	r.Findings = m.findings(inv)
	clear(m.hits) // drop the pointers into the snapshot before pooling
	hitPool.Put(&m.hits)
	return r
}

// hitPool recycles the per-run hit buffers: a re-match of thousands of
// images otherwise regrows one per image.
var hitPool sync.Pool

// hit is a finding before it is built: small, so that sorting and
// deduplicating hundreds of them per image moves little memory.
type hit struct {
	adv    *vulndb.Advisory
	pkg    int
	source string
	fixed  []string
}

// matcher is the state of one Run.
type matcher struct {
	*Matcher
	db   *vulndb.DB
	res  *Result
	hits []hit
}

func (m *matcher) note(format string, args ...any) {
	if len(m.res.Notes) < maxNotes {
		m.res.Notes = append(m.res.Notes, fmt.Sprintf(format, args...))
	}
}

func (m *matcher) pkg(inv *inventory.Inventory, i int) {
	p := &inv.Packages[i]
	t, why := targetOf(p, inv.OS)
	if why != "" {
		m.note("%s: %s", p.PURL, why)
		return
	}
	n, cands := m.db.LookupPackage(t.ecosystem, t.name)
	if len(cands) == 0 {
		return
	}
	parse := orders[t.ecosystem]
	if parse == nil {
		m.note("%s: no version order for ecosystem %s", p.PURL, t.ecosystem)
		return
	}
	installed, err := m.installed(t.ecosystem, t.version, parse)
	if err != nil {
		m.note("%s: installed version not comparable: %v", p.PURL, err)
		return
	}
	cp := m.compiled(n, t.ecosystem, cands, parse)
	for j := range cp.cands {
		cc := &cp.cands[j]
		if !t.acceptsRelease(cc.affected.Release) {
			continue
		}
		if ok, fixed := m.affected(installed, t.version, cp, cc); ok {
			m.hits = append(m.hits, hit{adv: cc.adv, pkg: i, source: t.name, fixed: fixed})
		}
	}
}

// findings sorts the hits most severe first, then by id, package and
// version, drops repeats of one advisory for one package name and version
// (an advisory naming a package twice, or one module in two binaries: the
// first, lowest layer, is kept), and builds the findings.
func (m *matcher) findings(inv *inventory.Inventory) []Finding {
	pk := func(h *hit) *inventory.Package { return &inv.Packages[h.pkg] }
	slices.SortStableFunc(m.hits, func(a, b hit) int {
		if c := cmp.Compare(b.adv.Severity.Rank(), a.adv.Severity.Rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.adv.ID, b.adv.ID); c != 0 {
			return c
		}
		pa, pb := pk(&a), pk(&b)
		if c := cmp.Compare(pa.Name, pb.Name); c != 0 {
			return c
		}
		return cmp.Compare(pa.Version, pb.Version)
	})
	hs := slices.CompactFunc(m.hits, func(a, b hit) bool {
		pa, pb := pk(&a), pk(&b)
		return a.adv == b.adv && pa.Name == pb.Name && pa.Version == pb.Version
	})
	if len(hs) == 0 {
		return nil
	}
	out := make([]Finding, len(hs))
	for i := range hs {
		out[i] = finding(pk(&hs[i]), hs[i].source, hs[i].adv, hs[i].fixed, m.db.Version())
	}
	return out
}

func finding(p *inventory.Package, source string, a *vulndb.Advisory, fixed []string, dbv string) Finding {
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
	if source != p.Name {
		f.Source = source
	}
	switch {
	case len(fixed) > 0:
		f.FixStatus = Fixed
	case a.WontFix:
		f.FixStatus = WillNotFix
	}
	return f
}
