package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Options configure a Gate.
type Options struct {
	// Exempt, if set, reports requests no gate applies to (admins).
	Exempt func(*http.Request) bool
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RecordEvery is how often the same decision about the same client,
	// repository and digest is recorded again (default 1m): a CI loop
	// retrying a refused pull must not write a row per attempt.
	RecordEvery time.Duration
}

// Gate holds the stored policies and exceptions in memory and decides
// pulls. A repository no policy matches costs a scan of the patterns and
// no query; one that matches costs one indexed query (GateScans).
type Gate struct {
	store metadata.Gates
	opts  Options
	log   *slog.Logger
	state atomic.Pointer[state]

	// reload serialises writes with the reload that follows them, so the
	// cache never ends older than the store.
	reload sync.Mutex

	mu       sync.Mutex
	recorded map[recordKey]time.Time
}

type state struct {
	// policies are ordered most specific first (longest pattern).
	policies   []Policy
	exceptions []metadata.GateException
}

type recordKey struct {
	outcome, repo, actor, ip string
	digest                   digest.Digest
}

// maxRecorded bounds the memory of recent decisions.
const maxRecorded = 10_000

// New loads the stored policies and exceptions.
func New(ctx context.Context, store metadata.Gates, opts Options) (*Gate, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RecordEvery <= 0 {
		opts.RecordEvery = time.Minute
	}
	g := &Gate{store: store, opts: opts, log: opts.Logger, recorded: map[recordKey]time.Time{}}
	if err := g.Reload(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// Reload reads the policies and exceptions from the store again.
func (g *Gate) Reload(ctx context.Context) error {
	stored, err := g.store.ListGates(ctx)
	if err != nil {
		return err
	}
	exc, err := g.store.ListGateExceptions(ctx)
	if err != nil {
		return err
	}
	st := &state{exceptions: exc}
	for _, sp := range stored {
		p, err := ParsePolicy(sp)
		if err != nil {
			// A policy stored by an older rule set is skipped, not fatal:
			// the others still apply.
			g.log.ErrorContext(ctx, "ignoring invalid gate policy", slog.String("pattern", sp.Pattern), slog.Any("err", err))
			continue
		}
		st.policies = append(st.policies, p)
	}
	slices.SortStableFunc(st.policies, func(a, b Policy) int { return len(b.Pattern) - len(a.Pattern) })
	g.state.Store(st)
	return nil
}

// Policy returns the policy for repo: of the patterns matching it, the
// longest, so that team/sandbox/* can relax team/*.
func (g *Gate) Policy(repo string) (Policy, bool) {
	for _, p := range g.state.Load().policies {
		if authz.Match(p.Pattern, repo) {
			return p, true
		}
	}
	return Policy{}, false
}

// Decide decides a pull of repo@d without recording it.
func (g *Gate) Decide(ctx context.Context, repo string, d digest.Digest) (Decision, bool, error) {
	p, ok := g.Policy(repo)
	if !ok {
		return Decision{Outcome: Allow}, false, nil
	}
	sums, err := g.store.GateScans(ctx, d)
	if err != nil {
		return Decision{}, true, err
	}
	return Decide(p, g.state.Load().exceptions, repo, FromSummaries(sums), g.opts.Now()), true, nil
}

// CheckPull is the registry's hook on manifest GET and HEAD: nil lets
// the pull proceed; a refusal is 403 DENIED naming the worst findings.
// Refusals and pulls let through by an exception are recorded as outbox
// events (gate.quarantined, gate.denied, gate.excepted).
func (g *Gate) CheckPull(r *http.Request, repo, ref string, m *metadata.Manifest) error {
	if len(g.state.Load().policies) == 0 {
		return nil
	}
	if g.opts.Exempt != nil && g.opts.Exempt(r) {
		return nil
	}
	ctx := r.Context()
	d, gated, err := g.Decide(ctx, repo, m.Digest)
	if err != nil {
		return fmt.Errorf("gate of %s: %w", repo, err)
	}
	if !gated || d.Outcome == Allow {
		return nil
	}
	g.record(ctx, repo, ref, m.Digest, d)
	if d.Outcome == Excepted {
		return nil
	}
	return oci.Errorf(oci.CodeDenied, "%s", d.Message(repo)).WithDetail(d)
}

var eventTypes = map[string]string{
	Quarantined: metadata.EventGateQuarantined,
	Denied:      metadata.EventGateDenied,
	Excepted:    metadata.EventGateExcepted,
}

// record writes the decision to the outbox, at most once per RecordEvery
// for the same client, repository, digest and outcome. A failure is
// logged: the decision stands whether or not it was recorded.
func (g *Gate) record(ctx context.Context, repo, ref string, dg digest.Digest, d Decision) {
	now := g.opts.Now()
	k := recordKey{outcome: d.Outcome, repo: repo, actor: metadata.ActorFrom(ctx), ip: metadata.ClientIPFrom(ctx), digest: dg}
	g.mu.Lock()
	if at, ok := g.recorded[k]; ok && now.Sub(at) < g.opts.RecordEvery {
		g.mu.Unlock()
		return
	}
	if len(g.recorded) >= maxRecorded {
		clear(g.recorded)
	}
	g.recorded[k] = now
	g.mu.Unlock()

	e := metadata.Event{Type: eventTypes[d.Outcome], Repo: repo, Digest: dg, At: now}
	if ref != dg.String() {
		e.Tag = ref
	}
	if len(d.Blocking) > maxDetailFindings {
		d.Blocking = d.Blocking[:maxDetailFindings]
	}
	e.Detail, _ = json.Marshal(d) // plain fields: cannot fail
	if err := g.store.RecordGateDecision(context.WithoutCancel(ctx), e); err != nil {
		g.log.ErrorContext(ctx, "recording gate decision", slog.String("repository", repo), slog.Any("err", err))
	}
}

// maxDetailFindings bounds the findings an event carries.
const maxDetailFindings = 20

// Policies returns the cached policies, most specific first.
func (g *Gate) Policies() []Policy { return slices.Clone(g.state.Load().policies) }

// SetPolicy validates and stores p and reloads the cache.
func (g *Gate) SetPolicy(ctx context.Context, p metadata.GatePolicy) (Policy, error) {
	pol, err := ParsePolicy(p)
	if err != nil {
		return Policy{}, &InvalidError{Err: err}
	}
	return pol, g.write(ctx, func() error { return g.store.PutGate(ctx, pol.Stored()) })
}

// DeletePolicy removes the policy of pattern (metadata.ErrNotFound if
// absent) and reloads the cache.
func (g *Gate) DeletePolicy(ctx context.Context, pattern string) error {
	return g.write(ctx, func() error { return g.store.DeleteGate(ctx, pattern) })
}

// AddException validates and stores e and reloads the cache.
func (g *Gate) AddException(ctx context.Context, e metadata.GateException) error {
	if err := validateException(e, g.opts.Now()); err != nil {
		return &InvalidError{Err: err}
	}
	return g.write(ctx, func() error { return g.store.PutGateException(ctx, e) })
}

// DeleteException removes an exception (metadata.ErrNotFound if absent)
// and reloads the cache.
func (g *Gate) DeleteException(ctx context.Context, pattern, id string) error {
	return g.write(ctx, func() error { return g.store.DeleteGateException(ctx, pattern, id) })
}

func (g *Gate) write(ctx context.Context, fn func() error) error {
	g.reload.Lock()
	defer g.reload.Unlock()
	if err := fn(); err != nil {
		return err
	}
	return g.Reload(ctx)
}

// InvalidError is a policy or exception that does not validate.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// maxExceptionID and maxReason bound what an exception stores.
const (
	maxExceptionID = 128
	maxReason      = 1024
)

func validateException(e metadata.GateException, now time.Time) error {
	if err := authz.ValidPattern(e.Pattern); err != nil {
		return err
	}
	switch {
	case e.ID == "" || len(e.ID) > maxExceptionID:
		return fmt.Errorf("id: want a vulnerability id of 1 to %d characters", maxExceptionID)
	case e.Reason == "":
		return fmt.Errorf("reason: required (say why the finding is acceptable)")
	case len(e.Reason) > maxReason:
		return fmt.Errorf("reason: at most %d characters", maxReason)
	case !e.Expires.IsZero() && !e.Expires.After(now):
		return fmt.Errorf("expires: %s is in the past", e.Expires.Format(time.RFC3339))
	}
	for _, c := range e.ID {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("id %q: no spaces or control characters", e.ID)
		}
	}
	return nil
}
