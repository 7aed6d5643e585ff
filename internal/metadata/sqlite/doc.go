// Package sqlite is Berth's embedded metadata store: metadata.Store on a
// single SQLite file through the pure-Go modernc.org/sqlite driver, so the
// default binary needs no cgo and no database server.
//
// # Schema
//
// Plain SQL that runs on PostgreSQL with few changes (INTEGER PRIMARY KEY →
// BIGINT GENERATED ALWAYS AS IDENTITY, BLOB → bytea, TEXT JSON → jsonb,
// name columns COLLATE "C" so ordering stays bytewise). Times are UTC Unix
// nanoseconds in BIGINT columns; 0 means never.
//
//	repositories  id PK │ name UNIQUE │ created
//	     │ 1
//	     ├──< manifests          (repo_id, digest) PK │ media_type │ artifact_type │ size
//	     │        │                subject │ annotations JSON │ content │ pushed_at │ last_pulled_at
//	     │        │                idx (repo_id, subject, artifact_type) WHERE subject <> ''   ← referrers
//	     │        ├──< tags              (repo_id, name) PK │ digest │ first_pushed │ updated
//	     │        │                      idx (repo_id, digest) ← tags of a manifest
//	     │        │                      idx (repo_id, updated, name) ← time-ordered listings
//	     │        ├──< manifest_blobs    (repo_id, manifest, blob) PK; idx (blob, repo_id) ← GC
//	     │        └──< manifest_children (repo_id, parent, child) PK; idx (repo_id, child)
//	     └──< repo_blobs                 (repo_id, digest) PK │ size │ linked_at; idx (digest) ← FindBlob
//	outbox  id AUTOINCREMENT (never reused, so relays can keep a cursor) │ type │ payload JSON │ created
//
// Deleting a manifest cascades to its tags and reference rows through
// foreign keys. manifest_children.child and manifest_blobs.blob carry no
// foreign key: deleting a child manifest or unlinking a blob is the
// registry's and the garbage collector's decision, not the schema's.
//
// The schema version is PRAGMA user_version; each migration runs in its
// own transaction together with the version bump, so a crash leaves the
// database at one version or the next. A database newer than this binary
// is refused rather than guessed at.
//
// # Connections
//
// Writes go through one connection (a *sql.DB with one open connection and
// BEGIN IMMEDIATE), so writers queue in Go instead of failing with
// SQLITE_BUSY; reads use a separate pool of query-only connections, which
// WAL lets run alongside the writer. BEGIN IMMEDIATE plus busy_timeout
// also lets a second process (a CLI verb beside the server) share the file.
// The hot lookups (Manifest, TaggedManifest) are prepared once and answered
// by one query each; the write path's statements are prepared once too,
// since parsing under the write lock is time every writer waits.
//
// # Durability
//
// The journal is WAL with synchronous=NORMAL: every commit is atomic and the
// file can never be corrupted by a crash; a process crash loses nothing
// (the WAL is in the OS cache), and a power loss can roll back at most the
// transactions since the last WAL sync, to a consistent earlier state.
// Options.SyncFull trades write throughput for surviving that too.
package sqlite
