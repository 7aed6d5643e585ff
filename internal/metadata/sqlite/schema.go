package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] moves the schema from version i to i+1. Append only: a
// released migration is never edited.
var migrations = [...]string{
	// 1: the initial schema (see the package doc).
	`
CREATE TABLE repositories (
	id      INTEGER PRIMARY KEY,
	name    TEXT    NOT NULL UNIQUE,
	created BIGINT  NOT NULL
);

CREATE TABLE manifests (
	repo_id        INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest         TEXT    NOT NULL,
	media_type     TEXT    NOT NULL,
	artifact_type  TEXT    NOT NULL DEFAULT '',
	size           BIGINT  NOT NULL,
	subject        TEXT    NOT NULL DEFAULT '',
	annotations    TEXT    NOT NULL DEFAULT '',
	content        BLOB    NOT NULL,
	pushed_at      BIGINT  NOT NULL,
	last_pulled_at BIGINT  NOT NULL DEFAULT 0,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_referrers ON manifests (repo_id, subject, artifact_type) WHERE subject <> '';

CREATE TABLE tags (
	repo_id      INTEGER NOT NULL,
	name         TEXT    NOT NULL,
	digest       TEXT    NOT NULL,
	first_pushed BIGINT  NOT NULL,
	updated      BIGINT  NOT NULL,
	PRIMARY KEY (repo_id, name),
	FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_digest  ON tags (repo_id, digest);
CREATE INDEX tags_by_updated ON tags (repo_id, updated, name);

CREATE TABLE manifest_blobs (
	repo_id  INTEGER NOT NULL,
	manifest TEXT    NOT NULL,
	blob     TEXT    NOT NULL,
	PRIMARY KEY (repo_id, manifest, blob),
	FOREIGN KEY (repo_id, manifest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob, repo_id);

CREATE TABLE manifest_children (
	repo_id INTEGER NOT NULL,
	parent  TEXT    NOT NULL,
	child   TEXT    NOT NULL,
	PRIMARY KEY (repo_id, parent, child),
	FOREIGN KEY (repo_id, parent) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_children_by_child ON manifest_children (repo_id, child);

CREATE TABLE repo_blobs (
	repo_id   INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest    TEXT    NOT NULL,
	size      BIGINT  NOT NULL,
	linked_at BIGINT  NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX repo_blobs_by_digest ON repo_blobs (digest);

CREATE TABLE outbox (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	type    TEXT    NOT NULL,
	payload TEXT    NOT NULL,
	created BIGINT  NOT NULL
);
`,
	// 2: user accounts (see users.go).
	`
CREATE TABLE users (
	name          TEXT    PRIMARY KEY,
	password_hash TEXT    NOT NULL,
	disabled      BOOLEAN NOT NULL DEFAULT 0,
	grants        TEXT    NOT NULL DEFAULT '[]',
	created       BIGINT  NOT NULL
);
`,
	// trash, locks and immutability rules (see trash.go and locks.go).
	`
ALTER TABLE manifests ADD COLUMN trashed_at BIGINT NOT NULL DEFAULT 0;
CREATE TABLE trash (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	repo_id    INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest     TEXT    NOT NULL,
	tag        TEXT    NOT NULL DEFAULT '',
	tags       TEXT    NOT NULL DEFAULT '',
	trashed_at BIGINT  NOT NULL,
	actor      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX trash_by_ref  ON trash (repo_id, digest);
CREATE INDEX trash_by_tag  ON trash (repo_id, tag) WHERE tag <> '';
CREATE INDEX trash_by_time ON trash (trashed_at);
CREATE TABLE locks (
	repo           TEXT    NOT NULL,
	tag            TEXT    NOT NULL DEFAULT '',
	digest         TEXT    NOT NULL DEFAULT '',
	write_enabled  BOOLEAN NOT NULL,
	delete_enabled BOOLEAN NOT NULL,
	read_enabled   BOOLEAN NOT NULL,
	updated        BIGINT  NOT NULL,
	actor          TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (repo, tag, digest)
);
CREATE TABLE immutable_rules (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	repos   TEXT    NOT NULL,
	tags    TEXT    NOT NULL,
	created BIGINT  NOT NULL,
	actor   TEXT    NOT NULL DEFAULT ''
);
`,
	// garbage collection tombstones and run history (see gc.go).
	gcSchema,
	// relay cursors and the audit log (see cursors.go and audit.go).
	relaySchema,
	// stored retention policies and their runs (see policies.go).
	policySchema,
	// vulnerability scans, inventories and findings (see scans.go).
	scanSchema,
	// network rules set at runtime (see netrules.go).
	netRulesSchema,
	// scoped tokens for machines (see tokens.go).
	tokenSchema,
	// webhook subscriptions and their delivery log (see webhooks.go).
	webhookSchema,
	// scan gates: policies, exceptions, findings by finding (see gates.go).
	gateSchema,
	// storage usage samples for the web UI's chart (see usagehistory.go).
	usageSchema,
	// a covering index for the web UI's listings (see browse.go).
	browseSchema,
	// scans deleted with the last manifest of their digest (see scansgone.go).
	scansGoneSchema,
	// each scan's highest severity, kept by triggers (see browse.go).
	scanHighestSchema,
	// per-repository sort keys for the web UI, kept by triggers (see repostats.go).
	repoStatsSchema,
	// pulls take a trigger of their own (see repostats.go).
	repoStatsPullSchema,
}

// SchemaVersion is the schema version this package writes. migrations is
// an array so that this stays a constant that follows every append.
const SchemaVersion = len(migrations)

// migrate brings db up to SchemaVersion, one transaction per step.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary supports (%d)", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if err := migrateStep(ctx, db, v); err != nil {
			return fmt.Errorf("migrating schema %d→%d: %w", v, v+1, err)
		}
	}
	return nil
}

func migrateStep(ctx context.Context, db *sql.DB, from int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, migrations[from]); err != nil {
		return err
	}
	// user_version lives in the database header, written by this same
	// transaction: the step and its number commit together.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", from+1)); err != nil {
		return err
	}
	return tx.Commit()
}
