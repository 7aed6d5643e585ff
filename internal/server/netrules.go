package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
)

// auditNetworkRules is the audit action of a change to the network rules.
const auditNetworkRules = "network_rules.changed"

// networkRules is the management API's view of the rules in force: the
// configuration file's until rules are set through the API, then the
// stored ones, across restarts, until they are cleared.
type networkRules struct {
	access *access
	config *netrule.Rules
	store  metadata.NetworkRules
	mu     sync.Mutex // one change at a time: the store and Live move together
}

var _ api.NetworkRuleService = (*networkRules)(nil)

// openNetworkRules puts the stored rules in force, if any. Stored rules
// that no longer parse stop the server: serving with the configuration's
// instead could open what an administrator closed.
func (s *Server) openNetworkRules(ctx context.Context, store metadata.NetworkRules) (*networkRules, error) {
	n := &networkRules{access: s.access, config: s.access.rules.Load(), store: store}
	stored, err := store.NetworkRules(ctx)
	if errors.Is(err, metadata.ErrNotFound) {
		return n, nil
	}
	if err != nil {
		return nil, err
	}
	rules, err := parseStored(stored)
	if err != nil {
		return nil, fmt.Errorf("network rules stored %s by %q: %w (clear them with berth network reset --force)",
			stored.Updated.Format("2006-01-02T15:04:05Z07:00"), stored.UpdatedBy, err)
	}
	s.access.rules.Store(rules)
	s.log.Info("network rules from the metadata store replace the configuration's",
		slog.Time("updated", stored.Updated), slog.String("updated_by", stored.UpdatedBy))
	return n, nil
}

func parseStored(stored *metadata.StoredNetworkRules) (*netrule.Rules, error) {
	var spec netrule.Spec
	if err := json.Unmarshal(stored.Spec, &spec); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return spec.Rules()
}

// ConfiguredNetworkRules implements api.NetworkRuleService.
func (n *networkRules) ConfiguredNetworkRules() *netrule.Rules { return n.config }

// NetworkRules implements api.NetworkRuleService.
func (n *networkRules) NetworkRules(ctx context.Context) (api.NetworkRuleSet, error) {
	stored, err := n.store.NetworkRules(ctx)
	if errors.Is(err, metadata.ErrNotFound) {
		return api.NetworkRuleSet{Source: "config", Rules: specOf(n.config)}, nil
	}
	if err != nil {
		return api.NetworkRuleSet{}, err
	}
	// What is in force, not what is stored: they differ only if the store
	// was changed behind the server's back, and then the server is right.
	set := api.NetworkRuleSet{Source: "api", Updated: &stored.Updated, UpdatedBy: stored.UpdatedBy,
		Rules: specOf(n.access.rules.Load())}
	return set, nil
}

// SetNetworkRules implements api.NetworkRuleService: store, then put in
// force, then audit. nil rules go back to the configuration's.
func (n *networkRules) SetNetworkRules(r *http.Request, rules *netrule.Rules) (api.NetworkRuleSet, error) {
	ctx := r.Context()
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.access.rules.Load()
	var actor string
	if p := authz.PrincipalFrom(ctx); !p.Anonymous() {
		actor = p.Name
	}
	if rules == nil {
		if err := n.store.ClearNetworkRules(ctx); err != nil && !errors.Is(err, metadata.ErrNotFound) {
			return api.NetworkRuleSet{}, err
		}
		n.access.rules.Store(n.config)
	} else {
		spec, err := json.Marshal(rules.Spec())
		if err != nil {
			return api.NetworkRuleSet{}, err
		}
		if err := n.store.SetNetworkRules(ctx, metadata.StoredNetworkRules{Spec: spec, UpdatedBy: actor}); err != nil {
			return api.NetworkRuleSet{}, err
		}
		n.access.rules.Store(rules)
	}
	set, err := n.NetworkRules(ctx)
	n.audit(r, old, set)
	return set, err
}

// networkRulesDetail is the audit detail of a change: before and after.
type networkRulesDetail struct {
	Source string       `json:"source"`
	Old    netrule.Spec `json:"old"`
	New    netrule.Spec `json:"new"`
	Forced bool         `json:"forced,omitempty"`
}

func (n *networkRules) audit(r *http.Request, old *netrule.Rules, set api.NetworkRuleSet) {
	n.access.log.InfoContext(r.Context(), "network rules changed", slog.String("source", set.Source),
		slog.String("default_action", set.Rules.DefaultAction),
		slog.Int("allow", len(set.Rules.Allow)), slog.Int("deny", len(set.Rules.Deny)))
	if n.access.audit == nil {
		return
	}
	rec := requestRecord(r, auditNetworkRules, metadata.AuditOK)
	rec.Detail, _ = json.Marshal(networkRulesDetail{Source: set.Source, Old: specOf(old), New: set.Rules,
		Forced: r.URL.Query().Get("force") == "true"})
	n.access.audit.Direct(r.Context(), rec)
}

// specOf is the textual form of rules; nil rules are the open default.
func specOf(r *netrule.Rules) netrule.Spec {
	if r == nil {
		r = &netrule.Rules{}
	}
	return r.Spec()
}
