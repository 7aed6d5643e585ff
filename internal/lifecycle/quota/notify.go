package quota

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Notice types, which are also their outbox event types.
const (
	// NoticeWarning: usage crossed WarnPercent of a quota.
	NoticeWarning = "quota.warning"
	// NoticeExceeded: a push was refused for a quota or the watermark.
	NoticeExceeded = "quota.exceeded"
)

// Notice scopes.
const (
	ScopeRepository = "repository"
	ScopeGlobal     = "global"
	ScopeDisk       = "disk"
)

// Notice announces a quota warning or refusal (Options.Notify). It is the
// detail of the event the server writes to the outbox.
type Notice struct {
	Type string `json:"-"`
	// Repo is the repository pushed to.
	Repo string `json:"-"`
	// Scope is what is (nearly) full: the repository's quota, the global
	// quota or the disk.
	Scope   string `json:"scope"`
	Used    int64  `json:"used,omitempty"`
	Limit   int64  `json:"limit,omitempty"`
	Percent int    `json:"warnPercent,omitempty"`
	Free    int64  `json:"free,omitempty"`
	MinFree int64  `json:"minFree,omitempty"`
	Error   string `json:"error,omitempty"`
}

// exceededEvery is how often, at most, a refusal of one scope and
// repository is announced: a client retrying, or a push of many layers,
// is one notice, not one per request.
const exceededEvery = time.Minute

// notifier holds what was announced, so that nothing is announced twice.
type notifier struct {
	mu sync.Mutex
	// warned holds the quotas over WarnPercent at their last check: a
	// repository name, or "" for the global quota. Only crossing in
	// either direction changes it, so a warning is sent once per crossing.
	warned map[string]bool
	// exceeded is when a refusal was last announced, by scope and repo.
	exceeded map[[2]string]time.Time
}

// watch compares a quota's usage with WarnPercent of its limit and
// announces an upward crossing. repo is "" for the global quota; pushed
// is the repository being pushed to. It costs no query: used is what
// the check read anyway.
func (l *Limiter) watch(ctx context.Context, repo, pushed string, used, limit int64) {
	pct := l.opts.WarnPercent
	if pct <= 0 || l.opts.Notify == nil || limit <= 0 {
		return
	}
	above := used*100 >= limit*int64(pct)
	l.note.mu.Lock()
	if above == l.note.warned[repo] {
		l.note.mu.Unlock()
		return
	}
	if above {
		l.note.warned[repo] = true
	} else {
		delete(l.note.warned, repo)
	}
	l.note.mu.Unlock()
	if !above {
		return
	}
	n := Notice{Type: NoticeWarning, Repo: pushed, Scope: ScopeRepository, Used: used, Limit: limit, Percent: pct}
	if repo == "" {
		n.Scope = ScopeGlobal
	}
	l.opts.Notify(ctx, n)
}

// refused announces err if it refuses a push of repo for a quota or the
// watermark, once per exceededEvery per scope and repository.
func (l *Limiter) refused(ctx context.Context, repo string, err error) {
	if err == nil || l.opts.Notify == nil {
		return
	}
	n := Notice{Type: NoticeExceeded, Repo: repo, Error: err.Error()}
	var (
		qe *ExceededError
		le *LowDiskError
	)
	switch {
	case errors.As(err, &qe):
		n.Scope, n.Used, n.Limit = ScopeRepository, qe.Used+qe.InFlight, qe.Limit
		if qe.Repo == "" {
			n.Scope = ScopeGlobal
		}
	case errors.As(err, &le):
		n.Scope, n.Free, n.MinFree = ScopeDisk, le.Free, le.Min
	default:
		return
	}
	now := l.now()
	key := [2]string{n.Scope, repo}
	l.note.mu.Lock()
	if last, ok := l.note.exceeded[key]; ok && now.Sub(last) < exceededEvery {
		l.note.mu.Unlock()
		return
	}
	if len(l.note.exceeded) >= 1000 {
		for k, at := range l.note.exceeded {
			if now.Sub(at) >= exceededEvery {
				delete(l.note.exceeded, k)
			}
		}
	}
	l.note.exceeded[key] = now
	l.note.mu.Unlock()
	l.opts.Notify(ctx, n)
}
