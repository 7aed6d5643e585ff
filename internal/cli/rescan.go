package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

const rescanLong = `Scan an image stored in a Berth server again, now: the server reads its
layers, matches them against its vulnerability database (scan.db) and
stores the result, as it does on push. berth rescan waits for the result
and prints it; a scan that fails or is skipped exits 1, a partial scan is
announced on stderr. Use berth scan to scan an image without a server.`

type rescanFlags struct {
	registry string
	wait     time.Duration
	output   string
}

func newRescan() *cobra.Command {
	var f rescanFlags
	cmd := &cobra.Command{
		Use:   "rescan REPO@DIGEST --registry URL",
		Short: "Scan an image in a Berth server again, now",
		Long:  rescanLong,
		Example: `  berth rescan team/app@sha256:4f1c… --registry http://127.0.0.1:5000
  berth rescan team/app@sha256:4f1c… --registry http://127.0.0.1:5000 --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("want exactly one REPO@DIGEST, got %d arguments", len(args))}
			}
			repo, d, ok := strings.Cut(args[0], "@")
			if !ok || repo == "" || digest.Digest(d).Validate() != nil {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("%q: want REPO@DIGEST, e.g. team/app@sha256:…", args[0])}
			}
			if f.registry == "" {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--registry is required")}
			}
			if f.output != "table" && f.output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", f.output)}
			}
			return runRescan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), repo, digest.Digest(d), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.registry, "registry", "", "the Berth server, e.g. http://127.0.0.1:5000 (required)")
	fl.DurationVar(&f.wait, "wait", 5*time.Minute, "how long to wait for the scan to finish")
	fl.StringVarP(&f.output, "output", "o", "table", "output: table or json")
	return cmd
}

func runRescan(ctx context.Context, stdout, stderr io.Writer, repo string, d digest.Digest, f rescanFlags) error {
	c, err := newAPIClient(f.registry)
	if err != nil {
		return err
	}
	r, err := rescanWait(ctx, c, repo, d, f.wait)
	if err != nil {
		return err
	}
	if f.output == "json" {
		if err := writeJSONTo(stdout, r); err != nil {
			return err
		}
	} else {
		printRescan(stdout, r)
	}
	switch r.Status {
	case metadata.ScanFailed, metadata.ScanSkipped:
		return fmt.Errorf("scan of %s@%s %s: %s", repo, d, r.Status, r.Reason)
	case metadata.ScanPartial:
		fmt.Fprintf(stderr, "berth: WARNING: PARTIAL SCAN of %s@%s: vulnerabilities may be missing: %s\n", repo, d, r.Reason)
	}
	return nil
}

// rescanWait asks the Berth server behind c to scan repo@d again and waits,
// up to wait, for the scan to finish (berth rescan, berth scan --rescan).
func rescanWait(ctx context.Context, c *apiClient, repo string, d digest.Digest, wait time.Duration) (*scanner.Report, error) {
	path := "repositories/" + repo + "/manifests/" + url.PathEscape(d.String()) + "/scan"
	if err := c.call(ctx, http.MethodPost, path, nil, nil); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var r scanner.Report
	for {
		if err := c.call(ctx, http.MethodGet, path, nil, &r); err != nil {
			return nil, err
		}
		if r.Status != metadata.ScanPending && r.Status != metadata.ScanScanning {
			return &r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("scan of %s@%s still %s after %s", repo, d, r.Status, wait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printRescan(w io.Writer, r *scanner.Report) {
	fmt.Fprintf(w, "Image:    %s@%s\nStatus:   %s\nDatabase: %s\n", r.Repo, r.Digest, r.Status, r.DBVersion)
	if r.Reason != "" {
		fmt.Fprintf(w, "Reason:   %s\n", r.Reason)
	}
	if r.Summary == nil {
		return
	}
	sevs := []vulndb.Severity{vulndb.SeverityCritical, vulndb.SeverityHigh, vulndb.SeverityMedium, vulndb.SeverityLow, vulndb.SeverityUnknown}
	fmt.Fprintf(w, "Total:    %d (", len(r.Findings))
	for i, s := range sevs {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%s: %d", s, r.Summary[s])
	}
	fmt.Fprintln(w, ")")
	for _, f := range r.Findings {
		fixed := strings.Join(f.FixedVersions, ", ")
		if fixed == "" {
			fixed = "(not-fixed)"
		}
		fmt.Fprintf(w, "%-9s %-22s %-28s %-16s %s\n", f.Severity, f.ID, f.Package, f.InstalledVersion, fixed)
	}
}
