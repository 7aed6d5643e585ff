package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Write-path statements prepared once on the writer connection. Writes are
// serialised on one connection, so time spent parsing SQL inside a
// transaction is time every other writer waits: preparing these took about
// a fifth of PutManifest's CPU.
const (
	selectRepoSQL     = `SELECT id FROM repositories WHERE name = ?`
	insertRepoSQL     = `INSERT INTO repositories (name, created) VALUES (?, ?) RETURNING id`
	blobLinkedSQL     = `SELECT 1 FROM repo_blobs WHERE repo_id = ? AND digest = ?`
	manifestExistsSQL = `SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ? AND trashed_at = 0`
	insertManifestSQL = `INSERT INTO manifests
	(repo_id, digest, media_type, artifact_type, size, subject, annotations, content, pushed_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (repo_id, digest) DO UPDATE SET trashed_at = 0 WHERE manifests.trashed_at <> 0`
	insertBlobRefSQL  = `INSERT INTO manifest_blobs (repo_id, manifest, blob) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	insertChildRefSQL = `INSERT INTO manifest_children (repo_id, parent, child) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	upsertTagSQL      = `INSERT INTO tags (repo_id, name, digest, first_pushed, updated) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated = excluded.updated`
	insertEventSQL = `INSERT INTO outbox (type, payload, created) VALUES (?, ?, ?)`
	linkBlobSQL    = `INSERT INTO repo_blobs (repo_id, digest, size, linked_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at`
	recordPullSQL = `UPDATE manifests SET last_pulled_at = ?
	WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ? AND last_pulled_at < ?`
)

var preparedWrites = []string{
	selectRepoSQL, insertRepoSQL, blobLinkedSQL, manifestExistsSQL, insertManifestSQL,
	insertBlobRefSQL, insertChildRefSQL, upsertTagSQL, insertEventSQL, linkBlobSQL, recordPullSQL,
	trashTagLookupSQL, deleteTagByIDSQL, insertTrashSQL, tagDigestSQL,
}

// prepareWrites prepares preparedWrites on the writer; it must run before
// any transaction holds the writer's only connection.
func prepareWrites(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	stmts := make(map[string]*sql.Stmt, len(preparedWrites))
	for _, q := range preparedWrites {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeStmts(stmts)
			return nil, fmt.Errorf("preparing %q: %w", q, err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

func closeStmts(stmts map[string]*sql.Stmt) {
	for _, st := range stmts {
		st.Close()
	}
}

// wtx is a write transaction that runs known statements prepared.
type wtx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // read-only after Open
}

func (w *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := w.stmts[q]; st != nil {
		return w.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return w.tx.ExecContext(ctx, q, args...)
}

func (w *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := w.stmts[q]; st != nil {
		return w.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return w.tx.QueryRowContext(ctx, q, args...)
}

func (w *wtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(ctx, q, args...)
}
