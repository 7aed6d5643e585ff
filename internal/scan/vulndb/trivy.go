package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The Trivy database (github.com/aquasecurity/trivy-db, schema 2) is a
// bbolt file. It is read here with bbolt and local copies of the few
// trivy-db types used, not with the trivy-db module, whose module graph
// (over 100 modules: CSAF, OpenTelemetry, YAML, CLI libraries) would raise
// versions Berth shares with it; the types below mirror
// trivy-db/pkg/types.Advisory and types.Vulnerability field for field.
//
// Layout: a bucket per data source — "debian 12", "alpine 3.19",
// "ubuntu 22.04", "rocky 9", "alma 9" for distributions, "<ecosystem>::<source
// name>" ("go::The Go Vulnerability Database", "npm::GitHub Security
// Advisory npm") for languages — holding a bucket per package whose keys
// are vulnerability ids and values Advisory JSON; and "vulnerability", id →
// Vulnerability JSON. Each id becomes one OSV entry whose affected list has
// one element per (bucket, package), so findings look the same whichever
// database they came from.

// trivyAdvisory mirrors trivy-db types.Advisory as stored (Status is an int).
type trivyAdvisory struct {
	VendorIDs          []string `json:",omitempty"`
	Status             int      `json:",omitempty"`
	Severity           int      `json:",omitempty"`
	FixedVersion       string   `json:",omitempty"`
	VulnerableVersions []string `json:",omitempty"`
	PatchedVersions    []string `json:",omitempty"`
}

// trivy-db types.Status values.
const (
	trivyStatusNotAffected = 1
	trivyStatusWillNotFix  = 5
	trivyStatusEndOfLife   = 7
)

// trivyCVSS and trivyVulnerability mirror types.CVSS and types.Vulnerability.
type trivyCVSS struct {
	V3Vector  string `json:",omitempty"`
	V40Vector string `json:",omitempty"`
}

type trivyVulnerability struct {
	Title            string               `json:",omitempty"`
	Description      string               `json:",omitempty"`
	Severity         string               `json:",omitempty"`
	CVSS             map[string]trivyCVSS `json:",omitempty"`
	References       []string             `json:",omitempty"`
	PublishedDate    *time.Time           `json:",omitempty"`
	LastModifiedDate *time.Time           `json:",omitempty"`
}

// trivyEcosystem maps a data-source bucket to an OSV ecosystem, or "".
func trivyEcosystem(bucket string) string {
	if eco, _, ok := strings.Cut(bucket, "::"); ok {
		return map[string]string{"go": "Go", "npm": "npm", "pip": "PyPI", "maven": "Maven"}[eco]
	}
	name, ver, _ := strings.Cut(bucket, " ")
	if ver == "" {
		return ""
	}
	switch name {
	case "debian":
		return "Debian:" + ver
	case "ubuntu":
		return "Ubuntu:" + ver
	case "alpine":
		return "Alpine:v" + ver
	case "rocky":
		return "Rocky Linux:" + ver
	case "alma":
		return "AlmaLinux:" + ver
	}
	return ""
}

// AddTrivyDB imports a Trivy database file (trivy.db). Buckets of
// ecosystems Berth does not match are counted as problems and skipped.
func (b *Builder) AddTrivyDB(ctx context.Context, path string) error {
	return b.addTrivyDBAs(ctx, path, path)
}

// addTrivyDBAs reads the database at file under the source name path.
func (b *Builder) addTrivyDBAs(ctx context.Context, file, path string) (err error) {
	db, err := bolt.Open(file, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("importing Trivy database %s: %w", path, err)
	}
	defer db.Close()
	// bbolt panics on some corrupt pages; a bad file must fail the import,
	// not the server. Reads run in this goroutine, so recover catches it.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("importing Trivy database %s: corrupt file: %v", path, r)
		}
	}()
	entries := map[string]*osvOut{}
	err = db.View(func(tx *bolt.Tx) error {
		vulns := tx.Bucket([]byte("vulnerability"))
		if vulns == nil {
			return errors.New("no vulnerability bucket: not a Trivy database")
		}
		return tx.ForEach(func(name []byte, src *bolt.Bucket) error {
			bucket := string(name)
			switch bucket {
			case "vulnerability", "data-source", "advisory-detail", "vulnerability-detail":
				return nil
			}
			eco := trivyEcosystem(bucket)
			if eco == "" {
				b.problem("%s!/%s: not a data source Berth matches; skipped", path, bucket)
				return nil
			}
			return src.ForEachBucket(func(pkg []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return src.Bucket(pkg).ForEach(func(id, v []byte) error {
					return b.trivyAdvisory(entries, path, eco, string(pkg), string(id), v)
				})
			})
		})
	})
	if err != nil {
		return fmt.Errorf("importing Trivy database %s: %w", path, err)
	}
	return db.View(func(tx *bolt.Tx) error {
		vulns := tx.Bucket([]byte("vulnerability"))
		for _, id := range slices.Sorted(maps.Keys(entries)) {
			e := entries[id]
			var v trivyVulnerability
			if raw := vulns.Get([]byte(id)); raw != nil && json.Unmarshal(raw, &v) != nil {
				b.problem("%s!/vulnerability/%s: detail does not parse", path, id)
			}
			data, err := e.json(id, v)
			if err != nil {
				return err
			}
			b.Add(path, path+"!/"+id, data)
		}
		return nil
	})
}

// osvOut collects the affected packages of one id.
type osvOut struct {
	aliases  []string
	affected []map[string]any
}

func (b *Builder) trivyAdvisory(entries map[string]*osvOut, path, eco, pkg, id string, raw []byte) error {
	if int64(len(raw)) > b.lim.MaxEntrySize {
		b.problem("%s!/%s/%s: over the entry cap", path, pkg, id)
		return nil
	}
	var a trivyAdvisory
	if err := json.Unmarshal(raw, &a); err != nil {
		b.problem("%s!/%s/%s: %v", path, pkg, id, err)
		return nil
	}
	if a.Status == trivyStatusNotAffected {
		return nil
	}
	e := entries[id]
	if e == nil {
		if len(entries) >= b.lim.MaxEntries {
			return fmt.Errorf("more than %d vulnerabilities: %w", b.lim.MaxEntries, ErrLimit)
		}
		e = &osvOut{}
		entries[id] = e
	}
	for _, v := range a.VendorIDs {
		if v != id && !slices.Contains(e.aliases, v) {
			e.aliases = append(e.aliases, v)
		}
	}
	aff := map[string]any{"package": map[string]string{"ecosystem": eco, "name": pkg}}
	if a.Status == trivyStatusWillNotFix || a.Status == trivyStatusEndOfLife {
		aff["database_specific"] = map[string]bool{"will_not_fix": true}
	}
	switch {
	case len(a.VulnerableVersions) > 0 || len(a.PatchedVersions) > 0:
		ranges, versions := trivyRanges(a.VulnerableVersions, a.PatchedVersions)
		if len(ranges) == 0 && len(versions) == 0 {
			b.problem("%s!/%s/%s: version constraints %q not understood", path, pkg, id, a.VulnerableVersions)
			return nil
		}
		aff["ranges"], aff["versions"] = ranges, versions
	default:
		// Distributions: a fixed version, or none when unfixed.
		events := []map[string]string{{"introduced": "0"}}
		if a.FixedVersion != "" {
			events = append(events, map[string]string{"fixed": a.FixedVersion})
		}
		aff["ranges"] = []map[string]any{{"type": "ECOSYSTEM", "events": events}}
	}
	e.affected = append(e.affected, aff)
	return nil
}

// trivyRanges turns language constraints (">=1.2.0, <1.2.5", "<0.3.8",
// "=1.0.0"; alternatives in separate strings or joined by "||") into OSV
// ranges and exact versions. A lower bound ">" is taken as ">=": OSV
// cannot express it, and naming the boundary version is the safer side.
// With only patched versions, everything below the first is affected.
func trivyRanges(vulnerable, patched []string) (ranges []map[string]any, versions []string) {
	if len(vulnerable) == 0 && len(patched) > 0 {
		first, _, _ := strings.Cut(patched[0], "||")
		if v := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(first), ">=^~")); v != "" && !strings.ContainsAny(v, ",<") {
			vulnerable = []string{"<" + v}
		}
	}
	for _, s := range vulnerable {
		for _, alt := range strings.Split(s, "||") {
			events, exact, ok := trivyConstraint(alt)
			switch {
			case !ok:
			case exact != "":
				versions = append(versions, exact)
			default:
				ranges = append(ranges, map[string]any{"type": "ECOSYSTEM", "events": events})
			}
		}
	}
	return ranges, versions
}

// trivyConstraint reads one conjunction of comparisons.
func trivyConstraint(s string) (events []map[string]string, exact string, ok bool) {
	lower, hasLower := "0", false
	var upper map[string]string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		switch {
		case c == "":
		case strings.HasPrefix(c, ">="):
			lower, hasLower = strings.TrimSpace(c[2:]), true
		case strings.HasPrefix(c, ">"):
			lower, hasLower = strings.TrimSpace(c[1:]), true
		case strings.HasPrefix(c, "<="):
			upper = map[string]string{"last_affected": strings.TrimSpace(c[2:])}
		case strings.HasPrefix(c, "<"):
			upper = map[string]string{"fixed": strings.TrimSpace(c[1:])}
		case strings.HasPrefix(c, "="):
			exact = strings.TrimSpace(strings.TrimLeft(c, "="))
		case !strings.ContainsAny(c, "<>=~^* "):
			exact = c
		default:
			return nil, "", false
		}
	}
	if exact != "" {
		return nil, exact, true
	}
	if lower == "" || upper == nil && !hasLower {
		// An empty constraint would mark every version affected.
		return nil, "", false
	}
	events = append(events, map[string]string{"introduced": lower})
	if upper != nil {
		events = append(events, upper)
	}
	return events, "", true
}

// json renders the OSV entry of id.
func (e *osvOut) json(id string, v trivyVulnerability) ([]byte, error) {
	modified := time.Unix(0, 0).UTC()
	switch {
	case v.LastModifiedDate != nil:
		modified = *v.LastModifiedDate
	case v.PublishedDate != nil:
		modified = *v.PublishedDate
	}
	doc := map[string]any{
		"id": id, "modified": modified, "aliases": e.aliases,
		"summary": v.Title, "details": v.Description, "affected": e.affected,
	}
	if v.Severity != "" {
		doc["database_specific"] = map[string]string{"severity": v.Severity}
	}
	// One vector per CVSS version, NVD's first, as Trivy prefers it.
	var sev []map[string]string
	for _, kind := range []struct{ typ, pick string }{{"CVSS_V3", "v3"}, {"CVSS_V4", "v4"}} {
		for _, src := range append([]string{"nvd"}, slices.Sorted(maps.Keys(v.CVSS))...) {
			c, ok := v.CVSS[src]
			vec := c.V3Vector
			if kind.pick == "v4" {
				vec = c.V40Vector
			}
			if ok && vec != "" {
				sev = append(sev, map[string]string{"type": kind.typ, "score": vec})
				break
			}
		}
	}
	if len(sev) > 0 {
		doc["severity"] = sev
	}
	var refs []map[string]string
	for _, r := range v.References {
		refs = append(refs, map[string]string{"type": "WEB", "url": r})
	}
	if len(refs) > 0 {
		doc["references"] = refs
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", id, err)
	}
	return buf.Bytes(), nil
}
