package quota

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// addTrash fills r's recycle bin figures. A repository with trashed
// manifests keeps its blob links, so it is already in r.Repositories.
func addTrash(ctx context.Context, t metadata.TrashUsage, r *Report) error {
	tr, err := t.TrashUsage(ctx)
	if err != nil {
		return fmt.Errorf("measuring the recycle bin: %w", err)
	}
	r.TrashBytes, r.TrashManifests = tr.Bytes, tr.Manifests
	byName := make(map[string]int, len(r.Repositories))
	for i, u := range r.Repositories {
		byName[u.Name] = i
	}
	for _, rt := range tr.Repositories {
		if i, ok := byName[rt.Name]; ok {
			r.Repositories[i].TrashBytes = rt.Bytes
		}
	}
	return nil
}
