package scanner

import (
	"context"
	"log/slog"
	"time"
)

// Rematch states.
const (
	RematchIdle     = "idle"
	RematchRunning  = "running"
	RematchDone     = "done"
	RematchFailed   = "failed"
	RematchStopped  = "stopped"
	rematchProgress = 100 // inventories between progress log lines
)

// RematchStatus is the progress of the background re-match that follows a
// database change: which version it applies, and how far it got.
type RematchStatus struct {
	State   string `json:"state"`
	Version string `json:"version,omitempty"`
	// Done counts the inventories matched again so far, of Total that were
	// made with another version when it started (scans finishing
	// meanwhile with the old version are redone too, so Done may pass it).
	Done  int `json:"done"`
	Total int `json:"total"`
	RematchResult
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// staleCounter is the optional store method that sizes a rematch.
type staleCounter interface {
	CountStale(ctx context.Context, version string) (int, error)
}

// RematchStatus returns the running or the last rematch.
func (s *Scanner) RematchStatus() RematchStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rematchSt.State == "" {
		return RematchStatus{State: RematchIdle}
	}
	return s.rematchSt
}

// WaitRematch waits until no rematch runs (or ctx ends) and returns the
// last one's status.
func (s *Scanner) WaitRematch(ctx context.Context) RematchStatus {
	s.mu.Lock()
	done := s.rematchDone
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	return s.RematchStatus()
}

// startRematch stops a rematch in progress and starts one to version in
// the background, on the scanner's own context: it outlives the request
// that caused it and ends with Stop.
func (s *Scanner) startRematch(version string) RematchStatus {
	s.mu.Lock()
	cancel, done := s.rematchCancel, s.rematchDone
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.mu.Lock()
	base := s.runCtx
	if base == nil {
		base = context.Background()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(base)
	done = make(chan struct{})
	started := s.now()
	st := RematchStatus{State: RematchRunning, Version: version, Started: &started}
	if c, ok := s.store.(staleCounter); ok {
		// One COUNT, so that the caller hears how much work it started.
		if n, err := c.CountStale(ctx, version); err == nil {
			st.Total = n
		}
	}
	s.mu.Lock()
	s.rematchSt, s.rematchCancel, s.rematchDone = st, cancel, done
	s.mu.Unlock()

	go func() {
		defer close(done)
		defer cancel()
		s.runRematch(ctx, version)
	}()
	return st
}

func (s *Scanner) runRematch(ctx context.Context, version string) {
	s.log.InfoContext(ctx, "re-matching stored inventories", slog.String("db_version", version), slog.Int("total", s.RematchStatus().Total))
	res, err := s.rematch(ctx, func(r RematchResult) {
		s.mu.Lock()
		s.rematchSt.Done, s.rematchSt.RematchResult = r.Rematched, r
		st := s.rematchSt
		s.mu.Unlock()
		if r.Rematched%rematchProgress == 0 {
			s.log.DebugContext(ctx, "re-match progress", slog.Int("done", st.Done), slog.Int("total", st.Total))
		}
	})
	finished := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rematchSt.Done, s.rematchSt.RematchResult, s.rematchSt.Finished = res.Rematched, res, &finished
	switch {
	case err == nil:
		s.rematchSt.State = RematchDone
		s.log.InfoContext(ctx, "re-match done", slog.String("db_version", version), slog.Int("rematched", res.Rematched),
			slog.Int("new_critical", res.NewCritical), slog.Duration("took", finished.Sub(*s.rematchSt.Started)))
	case ctx.Err() != nil:
		// A newer version or Stop took over; what is left is redone by
		// the next rematch.
		s.rematchSt.State, s.rematchSt.Error = RematchStopped, ctx.Err().Error()
	default:
		s.rematchSt.State, s.rematchSt.Error = RematchFailed, err.Error()
		s.log.ErrorContext(ctx, "re-match failed", slog.String("db_version", version), slog.Any("err", err))
	}
}

// resumeRematch starts a rematch at start when stored inventories were
// matched with another version than the loaded one: a rematch a stopped
// server left unfinished, or scan.db changed while it was down.
func (s *Scanner) resumeRematch(ctx context.Context) {
	db := s.db.Load()
	c, ok := s.store.(staleCounter)
	if db == nil || !ok {
		return
	}
	if n, err := c.CountStale(ctx, db.Version()); err != nil || n == 0 {
		return
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if cur := s.db.Load(); cur == db && s.RematchStatus().State != RematchRunning {
		s.startRematch(db.Version())
	}
}
