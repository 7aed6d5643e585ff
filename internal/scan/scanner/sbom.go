package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/inventory"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
)

// maxConfigRead bounds the image config read for its creation time.
const maxConfigRead = 4 << 20

// InventorySBOM renders the stored inventory of the image repo@d alone in
// format f (cyclonedx or spdx): no findings and no database version, and
// stamped with the image's own creation time (its config's "created",
// else the Unix epoch) rather than the scan's. The bytes therefore depend
// on the inventory only: a rematch or a rescan that reads the same
// packages renders the same document, which is what lets the attached
// SBOM keep its digest.
func (s *Scanner) InventorySBOM(ctx context.Context, repo string, d digest.Digest, f scanreport.Format) ([]byte, error) {
	m, err := s.store.Manifest(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Scan(ctx, d)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, fmt.Errorf("%s@%s: %w", repo, d, ErrNotScanned)
	}
	if err != nil {
		return nil, err
	}
	if len(rec.Inventory) == 0 || (rec.Status != metadata.ScanComplete && rec.Status != metadata.ScanPartial) {
		return nil, fmt.Errorf("%s@%s: no stored inventory (status %s): %w", repo, d, rec.Status, ErrNotScanned)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal(rec.Inventory, &inv); err != nil {
		return nil, fmt.Errorf("decoding inventory of %s: %w", d, err)
	}
	var buf bytes.Buffer
	err = scanreport.Write(&buf, f, &scanreport.Scan{Image: repo + "@" + d.String(), Digest: d.String(),
		Inventory: &inv, Created: s.imageCreated(ctx, m.Content), ToolVersion: "berth"})
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageCreated is the "created" time of the image's config, truncated to
// the second, or the Unix epoch when it has none or cannot be read: a
// fixed time either way.
func (s *Scanner) imageCreated(ctx context.Context, manifest []byte) time.Time {
	epoch := time.Unix(0, 0).UTC()
	var p struct {
		Config struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
	}
	if json.Unmarshal(manifest, &p) != nil || p.Config.Digest.Validate() != nil {
		return epoch
	}
	b, err := s.blobs.Open(ctx, p.Config.Digest)
	if err != nil {
		return epoch
	}
	defer b.Close()
	var cfg struct {
		Created *time.Time `json:"created"`
	}
	if json.NewDecoder(io.LimitReader(b, maxConfigRead)).Decode(&cfg) != nil || cfg.Created == nil || cfg.Created.Before(epoch) {
		return epoch
	}
	return cfg.Created.UTC().Truncate(time.Second)
}
