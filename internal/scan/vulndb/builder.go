package vulndb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits bounds an import. A zero field takes its default.
type Limits struct {
	// MaxEntrySize caps one OSV file or zip member (the largest real OSV
	// entries are a few hundred KiB).
	MaxEntrySize int64
	// MaxEntries caps the files or zip members read per source.
	MaxEntries int
	// MaxTotalBytes caps the bytes read per source, after decompression.
	MaxTotalBytes int64
	// MaxProblems caps the problems remembered for Status.
	MaxProblems int
}

// DefaultLimits fit every osv.dev dump: the whole of "all.zip" has under two
// million entries and a few GiB of JSON.
func DefaultLimits() Limits {
	return Limits{
		MaxEntrySize:  8 << 20,
		MaxEntries:    4_000_000,
		MaxTotalBytes: 16 << 30,
		MaxProblems:   100,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = d.MaxEntrySize
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxProblems <= 0 {
		l.MaxProblems = d.MaxProblems
	}
	return l
}

type held struct {
	adv    *Advisory
	hash   [32]byte
	source int
}

// Builder collects advisories from several sources into one snapshot. It is
// not safe for concurrent use.
type Builder struct {
	lim      Limits
	sources  []SourceStatus
	entries  map[string]held
	problems []string
}

// NewBuilder returns an empty Builder.
func NewBuilder(lim Limits) *Builder {
	return &Builder{lim: lim.withDefaults(), entries: make(map[string]held)}
}

// source returns the index of the named source, creating it.
func (b *Builder) source(name string) int {
	for i := range b.sources {
		if b.sources[i].Name == name {
			return i
		}
	}
	b.sources = append(b.sources, SourceStatus{Name: name})
	return len(b.sources) - 1
}

func (b *Builder) problem(format string, args ...any) {
	if len(b.problems) < b.lim.MaxProblems {
		b.problems = append(b.problems, fmt.Sprintf(format, args...))
	}
}

// Add imports one OSV JSON document from source; where names it in problem
// reports. A document that does not parse or is withdrawn is counted and
// skipped, never an error: one bad entry must not stop a database update.
func (b *Builder) Add(source, where string, data []byte) {
	si := b.source(source)
	st := &b.sources[si]
	if int64(len(data)) > b.lim.MaxEntrySize {
		st.Invalid++
		b.problem("%s: %d bytes, over the %d-byte entry cap", where, len(data), b.lim.MaxEntrySize)
		return
	}
	e, err := parseOSV(data)
	if err != nil {
		st.Invalid++
		b.problem("%s: %v", where, err)
		return
	}
	if e.Withdrawn != nil && !e.Withdrawn.IsZero() {
		st.Withdrawn++
		return
	}
	h := held{adv: e.advisory(), hash: sha256.Sum256(data), source: si}
	if old, ok := b.entries[e.ID]; ok {
		// The same id from two sources (a Go entry in both "Go/all.zip"
		// and "all.zip"): the newer modification wins.
		if !h.adv.Modified.After(old.adv.Modified) {
			st.Duplicates++
			return
		}
		b.sources[old.source].Entries--
		b.sources[old.source].Duplicates++
	}
	b.entries[e.ID] = h
	st.Entries++
}

// Build returns the snapshot of everything added and empties the Builder,
// so that nothing can change an advisory a snapshot already serves.
func (b *Builder) Build() *DB {
	b.borrowSeverity()
	ids := make([]string, 0, len(b.entries))
	for id := range b.entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	db := &DB{
		advisories: len(ids),
		ecosystems: make(map[string]int),
		index:      make(map[pkgKey]int),
		sources:    append([]SourceStatus(nil), b.sources...),
		problems:   append([]string(nil), b.problems...),
	}
	hash := sha256.New()
	in := interner{strs: make(map[string]string), ranges: make(map[string][]Range)}
	for _, id := range ids {
		h := b.entries[id]
		a := h.adv
		in.advisory(a)
		hash.Write(h.hash[:])
		if a.Modified.After(db.newest) {
			db.newest = a.Modified
		}
		// Per source from the kept entries, so a source whose newest entry
		// was superseded by another source's copy does not claim it.
		if src := &db.sources[h.source]; a.Modified.After(src.Newest) {
			src.Newest = a.Modified
		}
		seen := map[string]bool{}
		for i := range a.Affected {
			af := &a.Affected[i]
			if af.Name == "" || af.Ecosystem == "" {
				continue
			}
			k := pkgKey{af.Ecosystem, NormalizeName(af.Ecosystem, af.Name)}
			n, ok := db.index[k]
			if !ok {
				n = len(db.pkgs)
				db.index[k] = n
				db.pkgs = append(db.pkgs, nil)
			}
			db.pkgs[n] = append(db.pkgs[n], Candidate{Advisory: a, Affected: af})
			if !seen[af.Ecosystem] {
				seen[af.Ecosystem] = true
				db.ecosystems[af.Ecosystem]++
			}
		}
	}
	b.entries = make(map[string]held)
	b.sources, b.problems = nil, nil
	db.version = fmt.Sprintf("%s-%s", db.newest.UTC().Format("20060102T150405Z"),
		hex.EncodeToString(hash.Sum(nil))[:16])
	return db
}

// interner replaces what advisories repeat by one shared copy: strings
// (ecosystems, releases, package names, range types and versions, CVSS
// vectors) and whole range lists (the advisories one upload fixes share
// "introduced 0, fixed X"). A snapshot of 100,000 advisories otherwise
// holds each of them once per advisory, and a re-match holds the snapshot.
// A snapshot is never modified, so sharing is safe.
type interner struct {
	strs   map[string]string
	ranges map[string][]Range
	key    strings.Builder
}

func (in *interner) str(s *string) {
	if *s == "" {
		return
	}
	if v, ok := in.strs[*s]; ok {
		*s = v
		return
	}
	in.strs[*s] = *s
}

// keyPart adds s to the key of a range list, length first, so that no two
// lists share a key.
func (in *interner) keyPart(s string) {
	in.key.WriteString(strconv.Itoa(len(s)))
	in.key.WriteByte(':')
	in.key.WriteString(s)
}

func (in *interner) advisory(a *Advisory) {
	in.str(&a.CVSSVector)
	in.str(&a.SeverityFrom)
	for i := range a.Affected {
		af := &a.Affected[i]
		in.str(&af.Ecosystem)
		in.str(&af.Release)
		in.str(&af.Name)
		in.str(&af.PURL)
		for j := range af.Versions {
			in.str(&af.Versions[j])
		}
		if len(af.Ranges) == 0 {
			continue
		}
		in.key.Reset()
		for j := range af.Ranges {
			r := &af.Ranges[j]
			t := string(r.Type)
			in.str(&t)
			r.Type = RangeType(t)
			in.keyPart(t)
			in.keyPart(strconv.Itoa(len(r.Events)))
			for k := range r.Events {
				e := &r.Events[k]
				for _, f := range []*string{&e.Introduced, &e.Fixed, &e.LastAffected, &e.Limit} {
					in.str(f)
					in.keyPart(*f)
				}
			}
		}
		if shared, ok := in.ranges[in.key.String()]; ok {
			af.Ranges = shared
		} else {
			in.ranges[in.key.String()] = af.Ranges
		}
	}
}

// borrowSeverity rates an unrated advisory from a rated alias present in the
// database: Go entries carry no CVSS, their GHSA alias does.
func (b *Builder) borrowSeverity() {
	for _, h := range b.entries {
		a := h.adv
		if a.Severity != SeverityUnknown && a.Severity != "" {
			continue
		}
		for _, alias := range a.Aliases {
			o, ok := b.entries[alias]
			if !ok || o.adv.SeverityFrom != "" || o.adv.Severity == SeverityUnknown {
				continue
			}
			a.Severity, a.CVSSScore, a.CVSSVector = o.adv.Severity, o.adv.CVSSScore, o.adv.CVSSVector
			a.SeverityFrom = alias
			break
		}
	}
}
