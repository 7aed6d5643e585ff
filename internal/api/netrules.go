package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/oci"
)

// NetworkRuleService holds the network rules in force; the server is one.
type NetworkRuleService interface {
	// NetworkRules returns the rules in force and where they come from.
	NetworkRules(ctx context.Context) (NetworkRuleSet, error)
	// SetNetworkRules stores rules, puts them in force and audits the
	// change; nil rules clear the stored ones, so the configuration
	// file's apply again. r is the request that asked, for the audit.
	SetNetworkRules(r *http.Request, rules *netrule.Rules) (NetworkRuleSet, error)
	// ConfiguredNetworkRules are the configuration file's rules, which
	// apply when none are stored.
	ConfiguredNetworkRules() *netrule.Rules
}

// NetworkRuleSet is the body of GET and PUT /api/v1/network-rules.
// Source is "config" (the configuration file's rules) or "api" (set
// through this endpoint; they replace the configuration's until cleared).
type NetworkRuleSet struct {
	Source    string       `json:"source"`
	Updated   *time.Time   `json:"updated,omitempty"`
	UpdatedBy string       `json:"updatedBy,omitempty"`
	Rules     netrule.Spec `json:"rules"`
}

// NetworkRules serves /api/v1/network-rules (docs/access.md#network-rules):
// GET the rules in force, PUT a whole new set (body: the rules object),
// DELETE to go back to the configuration file's. A PUT or DELETE that
// would refuse the requesting client's own address is refused with 409
// unless ?force=true.
type NetworkRules struct {
	svc NetworkRuleService
	api *API
}

// NewNetworkRules returns the network-rules endpoint.
func NewNetworkRules(svc NetworkRuleService, a *API) *NetworkRules {
	return &NetworkRules{svc: svc, api: a}
}

const networkRulesPath = "network-rules"

// WithNetworkRules routes /api/v1/network-rules to n and the rest to next.
func WithNetworkRules(next http.Handler, n *NetworkRules) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, Prefix) == networkRulesPath {
			n.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (n *NetworkRules) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		var set NetworkRuleSet
		if set, err = n.svc.NetworkRules(r.Context()); err == nil {
			err = writeJSONBody(w, http.StatusOK, set)
		}
	case http.MethodPut:
		err = n.put(w, r)
	case http.MethodDelete:
		err = n.apply(w, r, nil)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		err = oci.Errorf(oci.CodeUnsupported, "method %s not allowed", r.Method).WithStatus(http.StatusMethodNotAllowed)
	}
	if err != nil {
		n.api.fail(w, r, err)
	}
}

func (n *NetworkRules) put(w http.ResponseWriter, r *http.Request) error {
	var spec netrule.Spec
	if err := decodeBody(r, &spec); err != nil {
		return err
	}
	rules, err := spec.Rules()
	if err != nil {
		// One line per bad entry, each naming its list and position.
		return badRequest("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return n.apply(w, r, rules)
}

// apply checks that the new rules (nil: the configuration's) admit the
// client asking, then applies them.
func (n *NetworkRules) apply(w http.ResponseWriter, r *http.Request, rules *netrule.Rules) error {
	if r.URL.Query().Get("force") != "true" {
		check := rules
		if check == nil {
			check = n.svc.ConfiguredNetworkRules()
		}
		if err := lockout(r, check); err != nil {
			return err
		}
	}
	set, err := n.svc.SetNetworkRules(r, rules)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, set)
}

// lockout refuses rules under which the requesting client could not make
// its next request: the client is resolved with the new trusted proxies.
func lockout(r *http.Request, rules *netrule.Rules) error {
	ip := netrule.ClientIP(r, rules.TrustedProxies)
	if rules.Decide(ip) == netrule.Allow {
		return nil
	}
	who := "an unknown address"
	if ip.IsValid() {
		who = ip.String()
	}
	return oci.Errorf(oci.CodeDenied, "these rules would refuse your own address (%s) and lock you out; "+
		"add it to allow, or repeat with force=true (berth network --force) to apply them anyway", who).
		WithStatus(http.StatusConflict)
}
