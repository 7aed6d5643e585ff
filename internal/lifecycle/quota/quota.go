// Package quota accounts for what repositories store and enforces limits:
// per-repository and global byte quotas, and a free-disk watermark below
// which uploads are refused while pulls keep working.
//
// A repository's usage is the sum of the sizes of the blobs it links
// (manifests live in the metadata database and are not counted). A blob
// shared by two repositories counts fully in each, and once in the global
// total. Checks run before bytes are written when the size is declared; a
// push of undeclared size (a streamed chunk) is stopped at its manifest.
package quota

import (
	"context"
	"fmt"
	"path"
	"sync"
	"time"
)

// Rule limits the repositories whose name matches Pattern (path.Match
// syntax: * does not cross a slash) to Limit bytes.
type Rule struct {
	Pattern string
	Limit   int64
}

// Usage is what the limiter reads; metadata.BlobUsage provides it.
type Usage interface {
	RepoBytes(ctx context.Context, repo string) (int64, error)
	LinkedBytes(ctx context.Context) (int64, error)
}

// Options configure a Limiter; zero values disable each limit.
type Options struct {
	// Global caps the bytes of distinct blobs the registry links.
	Global int64
	// Repos are tried in order; the first matching rule applies.
	Repos []Rule
	// MinFree is the free-disk watermark, in bytes, of Dir's filesystem.
	MinFree int64
	Dir     string
	// WarnPercent announces (Notify) once when a quota's usage crosses
	// this share of it, again only after it fell below; 0 never.
	WarnPercent int
	// Notify, if set, hears of warnings and of refused pushes (notify.go).
	// It is called on the request path, rarely: once per crossing, and
	// once a minute at most per refused scope and repository.
	Notify func(ctx context.Context, n Notice)
}

// ExceededError refuses a push over a quota.
type ExceededError struct {
	// Repo is the repository, or "" for the global quota.
	Repo  string
	Used  int64
	Limit int64
	// InFlight is the bytes other uploads have reserved (Reserve).
	InFlight int64
}

func (e *ExceededError) Error() string {
	flight := ""
	if e.InFlight > 0 {
		flight = fmt.Sprintf(" (and %d bytes are being uploaded)", e.InFlight)
	}
	if e.Repo == "" {
		return fmt.Sprintf("quota exceeded: the registry uses %d of %d bytes%s", e.Used, e.Limit, flight)
	}
	return fmt.Sprintf("quota exceeded: repository %s uses %d of %d bytes%s", e.Repo, e.Used, e.Limit, flight)
}

// LowDiskError refuses an upload while free disk space is under the
// watermark.
type LowDiskError struct {
	Free, Min int64
}

func (e *LowDiskError) Error() string {
	return fmt.Sprintf("storage is low: %d bytes free, below the %d-byte watermark (storage.min_free_bytes); uploads are refused until space is freed, pulls still work", e.Free, e.Min)
}

// Limiter checks pushes against the quotas and the watermark.
type Limiter struct {
	usage Usage
	opts  Options
	free  func(dir string) (int64, error)
	now   func() time.Time

	mu       sync.Mutex // guards the cached global total
	global   int64
	globalAt time.Time

	// resMu serialises Reserve's check and reservation, so that two
	// uploads cannot both fit into the same remaining bytes.
	resMu    sync.Mutex
	reserved map[string]int64 // per repository, bytes of uploads in flight
	resAll   int64

	note notifier
}

// globalTTL bounds how stale the global total may be: it sums every link
// in the registry, too much work for every chunk of every upload. The
// global quota may thus be overshot by what is pushed within a second.
const globalTTL = time.Second

// New returns a Limiter reading usage.
func New(usage Usage, opts Options) (*Limiter, error) {
	for _, r := range opts.Repos {
		if _, err := path.Match(r.Pattern, ""); err != nil {
			return nil, fmt.Errorf("quota: pattern %q: %w", r.Pattern, err)
		}
	}
	return &Limiter{usage: usage, opts: opts, free: freeBytes, now: time.Now, reserved: make(map[string]int64),
		note: notifier{warned: map[string]bool{}, exceeded: map[[2]string]time.Time{}}}, nil
}

// Limit returns the quota of repo, or 0 if none applies.
func (l *Limiter) Limit(repo string) int64 {
	for _, r := range l.opts.Repos {
		if ok, _ := path.Match(r.Pattern, repo); ok {
			return r.Limit
		}
	}
	return 0
}

// AdmitBlob refuses n more bytes for repo with *LowDiskError or
// *ExceededError. n = 0 checks only that nothing is exceeded already.
func (l *Limiter) AdmitBlob(ctx context.Context, repo string, n int64) error {
	err := l.admit(ctx, repo, n, 0, 0)
	l.refused(ctx, repo, err)
	return err
}

// Reserve admits n bytes for repo like AdmitBlob, counting the bytes of
// other reservations in flight, and holds them until release is called
// (once the upload is written and linked, or has failed). Parallel
// uploads of declared size thus cannot together overshoot a quota or the
// watermark.
func (l *Limiter) Reserve(ctx context.Context, repo string, n int64) (release func(), err error) {
	n = max(n, 0)
	l.resMu.Lock()
	if err := l.admit(ctx, repo, n, l.reserved[repo], l.resAll); err != nil {
		l.resMu.Unlock()
		l.refused(ctx, repo, err) // outside the lock: it may write an event
		return nil, err
	}
	l.reserved[repo] += n
	l.resAll += n
	l.resMu.Unlock()
	return sync.OnceFunc(func() {
		l.resMu.Lock()
		defer l.resMu.Unlock()
		if l.reserved[repo] -= n; l.reserved[repo] <= 0 {
			delete(l.reserved, repo)
		}
		l.resAll -= n
	}), nil
}

// admit checks n more bytes for repo on top of repoRes and allRes bytes
// reserved by uploads in flight.
func (l *Limiter) admit(ctx context.Context, repo string, n, repoRes, allRes int64) error {
	if l.opts.MinFree > 0 {
		free, err := l.free(l.opts.Dir)
		if err != nil {
			return fmt.Errorf("checking free disk space: %w", err)
		}
		if free-allRes-n < l.opts.MinFree {
			return &LowDiskError{Free: free, Min: l.opts.MinFree}
		}
	}
	return l.admitBytes(ctx, repo, n, repoRes, allRes)
}

// AdmitManifest refuses a manifest for a repository already over a quota,
// which streamed uploads and mounts can reach.
func (l *Limiter) AdmitManifest(ctx context.Context, repo string) error {
	err := l.admitBytes(ctx, repo, 0, 0, 0)
	l.refused(ctx, repo, err)
	return err
}

func (l *Limiter) admitBytes(ctx context.Context, repo string, n, repoRes, allRes int64) error {
	n = max(n, 0)
	if limit := l.Limit(repo); limit > 0 {
		used, err := l.usage.RepoBytes(ctx, repo)
		if err != nil {
			return err
		}
		l.watch(ctx, repo, repo, used, limit)
		if used+repoRes+n > limit {
			return &ExceededError{Repo: repo, Used: used, InFlight: repoRes, Limit: limit}
		}
	}
	if l.opts.Global > 0 {
		used, err := l.linkedBytes(ctx)
		if err != nil {
			return err
		}
		l.watch(ctx, "", repo, used, l.opts.Global)
		if used+allRes+n > l.opts.Global {
			return &ExceededError{Used: used, InFlight: allRes, Limit: l.opts.Global}
		}
	}
	return nil
}

func (l *Limiter) linkedBytes(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.globalAt.IsZero() || now.Sub(l.globalAt) >= globalTTL {
		n, err := l.usage.LinkedBytes(ctx)
		if err != nil {
			return 0, err
		}
		l.global, l.globalAt = n, now
	}
	return l.global, nil
}
