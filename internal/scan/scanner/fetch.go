package scanner

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Fetcher pulls the database source ref (without its "scheme://") into
// dir and returns the files to import and what was fetched (a digest).
type Fetcher func(ctx context.Context, ref, dir string) (files []string, fetched string, err error)

var (
	fetchersMu sync.RWMutex
	fetchers   = map[string]Fetcher{}
)

// RegisterFetcher makes sources "scheme://…" fetchable. Package
// internal/scan/vulndb/artifact registers "oci" when it is linked in: it
// uses the registry client, which the server package cannot import
// without a cycle through the client's own tests.
func RegisterFetcher(scheme string, f Fetcher) {
	fetchersMu.Lock()
	defer fetchersMu.Unlock()
	fetchers[scheme] = f
}

// Fetch pulls src, "scheme://ref", with the fetcher of its scheme.
func Fetch(ctx context.Context, src, dir string) ([]string, string, error) {
	scheme, ref, ok := strings.Cut(src, "://")
	fetchersMu.RLock()
	f := fetchers[scheme]
	fetchersMu.RUnlock()
	if !ok || f == nil {
		return nil, "", fmt.Errorf("%q: unsupported source; want a path or oci://REGISTRY/REPO:TAG", src)
	}
	return f(ctx, ref, dir)
}
