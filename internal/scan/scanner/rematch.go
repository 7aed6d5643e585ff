package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// LoadDB imports OSV directories and zips into one snapshot.
func LoadDB(ctx context.Context, paths []string) (*vulndb.DB, error) {
	b := vulndb.NewBuilder(vulndb.Limits{})
	for _, p := range paths {
		if err := b.AddPath(ctx, p); err != nil {
			return nil, fmt.Errorf("loading vulnerability database: %w", err)
		}
	}
	db := b.Build()
	if db.Len() == 0 {
		// An empty database finds nothing: scans against it would lie.
		return nil, fmt.Errorf("loading vulnerability database: no advisories in %s", strings.Join(paths, ", "))
	}
	return db, nil
}

// RematchResult counts what a rematch did.
type RematchResult struct {
	// Rematched is how many stored inventories were matched again.
	Rematched int `json:"rematched"`
	// NewCritical is how many images gained a CRITICAL or HIGH finding.
	NewCritical int `json:"newCritical"`
}

// ReloadResult is the answer of Reload.
type ReloadResult struct {
	Status  vulndb.Status `json:"status"`
	Changed bool          `json:"changed"`
	// Rematch is the re-match of stored inventories that a change started
	// in the background (state running), or the last one.
	Rematch RematchStatus `json:"rematch"`
}

// ErrNoSources means Reload was called with no database configured.
var ErrNoSources = errors.New("no vulnerability database configured (scan.db)")

// Reload imports paths again and, if that gives a new version, swaps it
// in and starts re-matching every stored inventory in the background: the
// call returns once the new snapshot is in place, and scans from then on
// use it. A rematch still running for an older version is stopped (the
// new one redoes whatever it had left). An import that fails or finds
// nothing leaves the current snapshot in place.
func (s *Scanner) Reload(ctx context.Context, paths []string) (ReloadResult, error) {
	if len(paths) == 0 {
		return ReloadResult{}, ErrNoSources
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	db, err := LoadDB(ctx, paths)
	if err != nil {
		return ReloadResult{}, err
	}
	res := ReloadResult{Status: db.Status()}
	if old := s.db.Load(); old != nil && old.Version() == db.Version() {
		res.Rematch = s.RematchStatus()
		return res, nil
	}
	s.swap.Lock()
	s.db.Store(db)
	s.swap.Unlock()
	res.Changed = true
	res.Rematch = s.startRematch(db.Version())
	return res, nil
}

// Rematch re-matches every stored inventory made with another database
// version against the current one, a page at a time, and emits
// scan.new_critical for each image that gains a CRITICAL or HIGH finding.
// It runs in the caller; Reload runs it in the background.
func (s *Scanner) Rematch(ctx context.Context) (RematchResult, error) {
	return s.rematch(ctx, func(RematchResult) {})
}

func (s *Scanner) rematch(ctx context.Context, progress func(RematchResult)) (RematchResult, error) {
	var out RematchResult
	db := s.db.Load()
	if db == nil {
		return out, errNoDB
	}
	last := ""
	var m rematcher
	for {
		recs, err := s.store.ListScans(ctx, metadata.Page{Last: last, N: rematchPage})
		if err != nil {
			return out, err
		}
		for i := range recs {
			rec := &recs[i]
			last = rec.Digest.String()
			if rec.DBVersion == db.Version() || len(rec.Inventory) == 0 ||
				(rec.Status != metadata.ScanComplete && rec.Status != metadata.ScanPartial) {
				continue
			}
			gained, err := s.rematchOne(ctx, rec, &m)
			// The page's stored JSON is done with: free it before the next.
			rec.Inventory, rec.Findings = nil, nil
			if err != nil {
				return out, err
			}
			out.Rematched++
			if gained {
				out.NewCritical++
			}
			progress(out)
		}
		if len(recs) < rematchPage {
			return out, nil
		}
	}
}

// rematchPage is how many stored scans a rematch reads at a time: each
// holds its inventory and findings as JSON (tens of KiB to a MiB), so a
// page is kept small; the rematch's memory is the snapshot and its Matcher.
const rematchPage = 25

// rematcher is the Matcher of one rematch, for the snapshot it was made
// for: compiled advisories and parsed versions serve every image, not one.
type rematcher struct {
	db *vulndb.DB
	m  *match.Matcher
}

func (r *rematcher) matcher(db *vulndb.DB) *match.Matcher {
	if r.db != db {
		r.db, r.m = db, match.New(db)
	}
	return r.m
}

// rematchOne matches rec's stored inventory against the current database
// and saves it; it reports whether the image gained a CRITICAL or HIGH id.
func (s *Scanner) rematchOne(ctx context.Context, rec *metadata.ScanRecord, m *rematcher) (bool, error) {
	var inv inventory.Inventory
	if err := json.Unmarshal(rec.Inventory, &inv); err != nil {
		return false, fmt.Errorf("decoding inventory of %s: %w", rec.Digest, err)
	}
	var old []match.Finding
	if len(rec.Findings) > 0 {
		if err := json.Unmarshal(rec.Findings, &old); err != nil {
			return false, fmt.Errorf("decoding findings of %s: %w", rec.Digest, err)
		}
	}
	s.swap.RLock()
	defer s.swap.RUnlock()
	db := s.db.Load()
	if db == nil {
		return false, errNoDB
	}
	res := m.matcher(db).Run(&inv)
	if err := setFindings(rec, res.Findings); err != nil {
		return false, err
	}
	rec.DBVersion, rec.Finished = db.Version(), s.now()
	gained := severeIDs(res.Findings, old)
	var events []metadata.Event
	if len(gained) > 0 {
		detail, err := json.Marshal(NewCritical{IDs: gained, DBVersion: rec.DBVersion})
		if err != nil {
			return false, fmt.Errorf("encoding scan.new_critical of %s: %w", rec.Digest, err)
		}
		events = append(events, metadata.Event{Type: metadata.EventScanNewCritical, Repo: rec.Repo,
			Digest: rec.Digest, MediaType: rec.MediaType, Detail: detail, At: s.now()})
	}
	if err := s.store.SaveScan(ctx, rec, events); err != nil {
		return false, err
	}
	return len(gained) > 0, nil
}

// NewCritical is the detail of a scan.new_critical event.
type NewCritical struct {
	// IDs are the CRITICAL and HIGH ids the image did not have before.
	IDs       []string `json:"ids"`
	DBVersion string   `json:"dbVersion"`
}

// severeIDs lists the CRITICAL and HIGH ids in now that were not in before.
func severeIDs(now, before []match.Finding) []string {
	had := map[string]bool{}
	for _, f := range before {
		if f.Severity.Rank() >= vulndb.SeverityHigh.Rank() {
			had[f.ID] = true
		}
	}
	var out []string
	for _, f := range now {
		if f.Severity.Rank() >= vulndb.SeverityHigh.Rank() && !had[f.ID] && !slices.Contains(out, f.ID) {
			out = append(out, f.ID)
		}
	}
	slices.Sort(out)
	return out
}

var errNoDB = errors.New("no vulnerability database loaded")
