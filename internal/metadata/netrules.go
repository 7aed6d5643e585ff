package metadata

import (
	"context"
	"encoding/json"
	"time"
)

// StoredNetworkRules are network rules set at runtime (through the
// management API), which replace those of the configuration file once
// set. Spec is the JSON form of netrule.Spec: the metadata layer keeps it
// opaque so that it does not depend on the access packages.
type StoredNetworkRules struct {
	Spec    json.RawMessage
	Updated time.Time
	// UpdatedBy is the account that set them, "" when anonymous.
	UpdatedBy string
}

// NetworkRules keeps the one runtime rule set.
type NetworkRules interface {
	// NetworkRules returns the stored rules, or ErrNotFound if none were
	// ever set (or they were cleared).
	NetworkRules(ctx context.Context) (*StoredNetworkRules, error)
	// SetNetworkRules replaces the stored rules.
	SetNetworkRules(ctx context.Context, r StoredNetworkRules) error
	// ClearNetworkRules removes the stored rules, so that the
	// configuration file's apply again; ErrNotFound if there were none.
	ClearNetworkRules(ctx context.Context) error
}
