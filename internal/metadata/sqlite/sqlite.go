package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ metadata.Store = (*Store)(nil)

// Options tunes a Store; the zero value is a sensible default.
type Options struct {
	// ReadConns bounds the read pool (default 2 × GOMAXPROCS, at least 4).
	ReadConns int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process before failing (default 5s).
	BusyTimeout time.Duration
	// SyncFull makes every commit survive power loss (synchronous=FULL) at
	// the cost of an fsync per write transaction.
	SyncFull bool
	// CacheKiB is each connection's page cache (default 16 MiB).
	CacheKiB int
}

// defaultPage is the listing size used when a caller passes Page.N <= 0.
const defaultPage = 1000

// Store is a metadata.Store in one SQLite database file.
type Store struct {
	w *sql.DB // exactly one connection: every write transaction
	r *sql.DB // query-only pool

	writes       map[string]*sql.Stmt // prepared on w, see wtx
	manifestStmt *sql.Stmt
	taggedStmt   *sql.Stmt
	locks        lockCache // ListLocks per repository (lockcache.go)

	now func() time.Time
}

// Open opens or creates the database at path and migrates it to the
// current schema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("opening metadata database: invalid path %q", path)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.CacheKiB <= 0 {
		opts.CacheKiB = 16 << 10
	}
	s := &Store{now: func() time.Time { return time.Now().UTC() }}

	var err error
	if s.w, err = sql.Open("sqlite", dsn(path, opts, false)); err != nil {
		return nil, fmt.Errorf("opening metadata database %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// The writer opens first: it switches the file to WAL and migrates, so
	// the read connections never see a half-initialised database.
	if err := migrate(ctx, s.w); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("migrating metadata database %s: %w", path, err)
	}

	if s.writes, err = prepareWrites(ctx, s.w); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("opening metadata database %s: %w", path, err)
	}

	if s.r, err = sql.Open("sqlite", dsn(path, opts, true)); err != nil {
		closeStmts(s.writes)
		s.w.Close()
		return nil, fmt.Errorf("opening metadata database %s for reading: %w", path, err)
	}
	s.r.SetMaxOpenConns(opts.ReadConns)
	s.r.SetMaxIdleConns(opts.ReadConns)
	s.r.SetConnMaxIdleTime(0)
	s.r.SetConnMaxLifetime(0)

	if s.manifestStmt, err = s.r.PrepareContext(ctx, manifestByDigestSQL); err != nil {
		s.Close()
		return nil, fmt.Errorf("preparing manifest lookup: %w", err)
	}
	if s.taggedStmt, err = s.r.PrepareContext(ctx, manifestByTagSQL); err != nil {
		s.Close()
		return nil, fmt.Errorf("preparing tag lookup: %w", err)
	}
	return s, nil
}

// dsn builds a modernc connection string: every pooled connection gets the
// same pragmas, which a one-off PRAGMA after sql.Open would not guarantee.
func dsn(path string, opts Options, readOnly bool) string {
	sync := "NORMAL"
	if opts.SyncFull {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", opts.CacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN: a deferred transaction that reads
		// and then writes can fail with SQLITE_BUSY (no retry) if another
		// process wrote in between.
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close releases both connection pools.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.manifestStmt, s.taggedStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	closeStmts(s.writes)
	if s.w != nil {
		// A checkpoint keeps the WAL file from growing across
		// restarts; failing it loses nothing.
		// PRAGMA optimize refreshes the planner's statistics where they
		// went stale, as SQLite recommends before closing.
		_, _ = s.w.Exec("PRAGMA optimize")
		_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing metadata database: %w", err)
	}
	return nil
}

// write runs fn in one write transaction, committed only if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(&wtx{tx: tx, stmts: s.writes}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

func limit(p metadata.Page) int {
	if p.N <= 0 {
		return defaultPage
	}
	return p.N
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
