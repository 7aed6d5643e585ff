package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/image"
	"github.com/berth-registry/berth/internal/scan/inventory"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

// runScanRescan is berth scan --rescan: the Berth server holding ref scans
// it again (as berth rescan asks it to), and its findings go through the
// filters, formats and exit code of berth scan.
func runScanRescan(ctx context.Context, stdout, stderr io.Writer, ref string, o scanOptions) error {
	if !isRegistryRef(ref) {
		return &usageError{cmd: "berth scan", err: fmt.Errorf("--rescan: %q is not an image in a registry; want HOST/REPO:TAG or HOST/REPO@DIGEST", ref)}
	}
	r, err := image.ParseReference(ref)
	if err != nil {
		return &usageError{cmd: "berth scan", err: err}
	}
	cred, from, err := remote.ResolveCredential(ctx, r.Host, o.creds)
	if err != nil {
		return err
	}
	if !cred.Empty() {
		fmt.Fprintf(stderr, "%s: credentials: %s\n", r.Host, from)
	}
	base := registryBase(r.Host, o.image.Insecure)
	rc, err := remote.New(base, remote.Options{Credential: cred})
	if err != nil {
		return err
	}
	berth, err := rc.IsBerth(ctx)
	if err != nil {
		return fmt.Errorf("--rescan: asking %s whether it is a Berth server: %w", r.Host, err)
	}
	if !berth {
		return fmt.Errorf("--rescan needs a Berth server: %s does not serve Berth's API (/api/v1); scan the image there with --db instead", r.Host)
	}
	d := r.Digest
	if d == "" {
		desc, err := rc.HeadManifest(ctx, r.Repo, r.Tag)
		if err != nil {
			return fmt.Errorf("resolving %s: %w", ref, err)
		}
		d = desc.Digest
	}
	api, err := newAPIClient(base)
	if err != nil {
		return err
	}
	if cred.Username != "" {
		api.user, api.password = cred.Username, cred.Password
	}
	rep, err := rescanWait(ctx, api, r.Repo, d, o.wait)
	if err != nil {
		return err
	}
	switch rep.Status {
	case metadata.ScanFailed, metadata.ScanSkipped:
		return fmt.Errorf("scan of %s@%s %s: %s", r.Repo, d, rep.Status, rep.Reason)
	}
	inv, err := rescanInventory(ctx, api, r.Repo, d, rep)
	if err != nil {
		return err
	}
	created := time.Now().UTC().Truncate(time.Second)
	if rep.Finished != nil {
		created = rep.Finished.UTC().Truncate(time.Second)
	}
	s := &scanreport.Scan{Image: ref, Digest: d.String(), Inventory: inv, DBVersion: rep.DBVersion,
		Findings: filterFindings(rep.Findings, o.filter), Filter: o.filter, Created: created, ToolVersion: version}
	if err := writeScanReport(stdout, o, s); err != nil {
		return err
	}
	if s.Partial() {
		fmt.Fprintf(stderr, "berth: WARNING: PARTIAL SCAN of %s: vulnerabilities may be missing:\n", ref)
		for _, r := range inv.Reasons {
			fmt.Fprintf(stderr, "berth:   %s\n", r)
		}
	}
	if o.exitCode != 0 && len(s.Findings) > 0 {
		return &gateError{code: o.exitCode, n: len(s.Findings)}
	}
	return nil
}

// rescanInventory reads the inventory the server stored for d (for an
// index, its platform images' together) from the json format of the scan
// endpoint, for the SBOM formats and the table's package count.
func rescanInventory(ctx context.Context, c *apiClient, repo string, d digest.Digest, rep *scanner.Report) (*inventory.Inventory, error) {
	images := []digest.Digest{d}
	if len(rep.Children) > 0 {
		images = images[:0]
		for _, ch := range rep.Children {
			images = append(images, digest.Digest(ch.Digest))
		}
	}
	inv := &inventory.Inventory{Status: inventory.StatusComplete, Packages: []inventory.Package{}}
	for i, im := range images {
		var one inventory.Inventory
		path := "repositories/" + repo + "/manifests/" + url.PathEscape(im.String()) + "/scan?format=json"
		if err := c.call(ctx, http.MethodGet, path, nil, &one); err != nil {
			return nil, fmt.Errorf("reading the inventory of %s@%s: %w", repo, im, err)
		}
		if i == 0 {
			inv.OS = one.OS
		}
		inv.Packages = append(inv.Packages, one.Packages...)
		if one.Status != inventory.StatusComplete {
			inv.Status = inventory.StatusPartial
		}
		inv.Reasons = append(inv.Reasons, one.Reasons...)
	}
	if rep.Status == metadata.ScanPartial && inv.Status == inventory.StatusComplete {
		// The server's word wins: never report less than it did.
		inv.Status, inv.Reasons = inventory.StatusPartial, append(inv.Reasons, rep.Reason)
	}
	return inv, nil
}
