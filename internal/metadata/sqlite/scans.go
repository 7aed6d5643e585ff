package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.Scans = (*Store)(nil)

// Vulnerability scans (see the scans migration):
//
//	scans       digest PK │ repo │ media_type │ status │ reason │ db_version
//	            │ queued │ started │ finished │ children (JSON)
//	            │ inventory (JSON) │ findings (JSON)
//	scan_vulns  digest │ vuln_id │ package │ severity — PK (digest, vuln_id, package);
//	            by vuln_id, for "which images have CVE-X"
//
// Scans are keyed by digest alone: content is scanned once whatever
// repository holds it, and AffectedBy joins through manifests to name the
// repositories. A scan lives while some manifest row holds its digest
// (see scansgone.go); AffectedBy lists only manifests that exist and are
// not in the recycle bin.
const scanSchema = `
CREATE TABLE scans (
	digest     TEXT   PRIMARY KEY,
	repo       TEXT   NOT NULL DEFAULT '',
	media_type TEXT   NOT NULL DEFAULT '',
	status     TEXT   NOT NULL,
	reason     TEXT   NOT NULL DEFAULT '',
	db_version TEXT   NOT NULL DEFAULT '',
	queued     BIGINT NOT NULL DEFAULT 0,
	started    BIGINT NOT NULL DEFAULT 0,
	finished   BIGINT NOT NULL DEFAULT 0,
	children   TEXT   NOT NULL DEFAULT '',
	inventory  TEXT   NOT NULL DEFAULT '',
	findings   TEXT   NOT NULL DEFAULT ''
);
CREATE TABLE scan_vulns (
	digest   TEXT NOT NULL REFERENCES scans(digest) ON DELETE CASCADE,
	vuln_id  TEXT NOT NULL,
	package  TEXT NOT NULL,
	severity TEXT NOT NULL,
	PRIMARY KEY (digest, vuln_id, package)
);
CREATE INDEX scan_vulns_by_id ON scan_vulns (vuln_id, digest);
CREATE INDEX manifests_by_digest ON manifests (digest);
`

const scanColumns = `digest, repo, media_type, status, reason, db_version, queued, started, finished, children, inventory, findings`

// SaveScan replaces the scan and its vulnerability index in one transaction.
func (s *Store) SaveScan(ctx context.Context, rec *metadata.ScanRecord, events []metadata.Event) error {
	children := ""
	if len(rec.Children) > 0 {
		b, err := json.Marshal(rec.Children)
		if err != nil {
			return fmt.Errorf("encoding scan children: %w", err)
		}
		children = string(b)
	}
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scans (`+scanColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET repo = excluded.repo, media_type = excluded.media_type,
			status = excluded.status, reason = excluded.reason, db_version = excluded.db_version,
			queued = excluded.queued, started = excluded.started, finished = excluded.finished,
			children = excluded.children, inventory = excluded.inventory, findings = excluded.findings`,
			rec.Digest.String(), rec.Repo, rec.MediaType, rec.Status, rec.Reason, rec.DBVersion,
			nanos(rec.Queued), nanos(rec.Started), nanos(rec.Finished), children,
			string(rec.Inventory), string(rec.Findings)); err != nil {
			return fmt.Errorf("writing scan: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM scan_vulns WHERE digest = ?`, rec.Digest.String()); err != nil {
			return fmt.Errorf("writing scan findings: %w", err)
		}
		for _, v := range rec.Vulns {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scan_vulns (digest, vuln_id, package, severity, finding) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, rec.Digest.String(), v.ID, v.Package, v.Severity, v.Finding); err != nil {
				return fmt.Errorf("writing scan findings: %w", err)
			}
		}
		for _, e := range events {
			if e.At.IsZero() {
				e.At = s.now()
			}
			if e.Actor == "" {
				e.Actor = metadata.ActorFrom(ctx)
			}
			if err := insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving scan of %s: %w", rec.Digest, err)
	}
	return nil
}

// Scan returns the scan of d.
func (s *Store) Scan(ctx context.Context, d digest.Digest) (*metadata.ScanRecord, error) {
	rec, err := scanRecord(s.r.QueryRowContext(ctx, `SELECT `+scanColumns+` FROM scans WHERE digest = ?`, d.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("scan of %s: %w", d, metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading scan of %s: %w", d, err)
	}
	return rec, nil
}

// ListScans pages through every scan in digest order.
func (s *Store) ListScans(ctx context.Context, p metadata.Page) ([]metadata.ScanRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+scanColumns+` FROM scans WHERE digest > ? ORDER BY digest LIMIT ?`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("listing scans: %w", err)
	}
	defer rows.Close()
	out := []metadata.ScanRecord{}
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("listing scans: %w", err)
		}
		out = append(out, *rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing scans: %w", err)
	}
	return out, nil
}

// AffectedBy joins the vulnerability index to the live manifests.
func (s *Store) AffectedBy(ctx context.Context, id string, p metadata.Page) ([]metadata.AffectedImage, error) {
	lastRepo, lastDigest, _ := strings.Cut(p.Last, "@")
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, v.digest, MIN(v.package), MAX(v.severity),
			(SELECT COALESCE(GROUP_CONCAT(t.name, ','), '') FROM (SELECT name FROM tags
				WHERE repo_id = m.repo_id AND digest = m.digest ORDER BY name) t)
		FROM scan_vulns v
		JOIN manifests m ON m.digest = v.digest AND m.trashed_at = 0
		JOIN repositories r ON r.id = m.repo_id
		WHERE v.vuln_id = ? AND (r.name > ? OR (r.name = ? AND v.digest > ?))
		GROUP BY r.name, v.digest
		ORDER BY r.name, v.digest LIMIT ?`, id, lastRepo, lastRepo, lastDigest, limit(p))
	if err != nil {
		return nil, fmt.Errorf("listing images affected by %s: %w", id, err)
	}
	defer rows.Close()
	out := []metadata.AffectedImage{}
	for rows.Next() {
		var (
			a    metadata.AffectedImage
			d    string
			tags string
		)
		if err := rows.Scan(&a.Repo, &d, &a.Package, &a.Severity, &tags); err != nil {
			return nil, fmt.Errorf("listing images affected by %s: %w", id, err)
		}
		a.Digest, a.Tags = digest.Digest(d), []string{}
		if tags != "" {
			a.Tags = strings.Split(tags, ",")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing images affected by %s: %w", id, err)
	}
	return out, nil
}

func scanRecord(row rowScanner) (*metadata.ScanRecord, error) {
	var (
		rec                        metadata.ScanRecord
		d, children, inv, findings string
		queued, started, finished  int64
	)
	if err := row.Scan(&d, &rec.Repo, &rec.MediaType, &rec.Status, &rec.Reason, &rec.DBVersion,
		&queued, &started, &finished, &children, &inv, &findings); err != nil {
		return nil, err
	}
	rec.Digest = digest.Digest(d)
	rec.Queued, rec.Started, rec.Finished = fromNanos(queued), fromNanos(started), fromNanos(finished)
	if children != "" {
		if err := json.Unmarshal([]byte(children), &rec.Children); err != nil {
			return nil, fmt.Errorf("decoding children of scan %s: %w", d, err)
		}
	}
	if inv != "" {
		rec.Inventory = json.RawMessage(inv)
	}
	if findings != "" {
		rec.Findings = json.RawMessage(findings)
	}
	return &rec, nil
}
