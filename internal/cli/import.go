package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

type importFlags struct {
	to        string
	platforms []string
	referrers bool
	srcCreds  string
	wait      time.Duration
}

func newImport() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import SRC --to BERTH/REPOSITORY[:TAG]",
		Short: "Have a Berth server pull an image from another registry (scanned like a push)",
		Long: `Asks a Berth server to pull SRC (REGISTRY/REPOSITORY:TAG or @DIGEST) from
another registry itself: POST /api/v1/import, an admin call (the server's
credentials come from BERTH_USERNAME and BERTH_PASSWORD). The server
checks every digest and pushes through its own registry, so locks, quotas,
immutability rules and events apply, and the image is scanned as a push
is. --wait waits for that scan and prints its status.

The source's credentials (--src-creds USER:PASSWORD, else
BERTH_<HOST>_USERNAME/PASSWORD or the Docker config for the source host)
are sent to the server for this import only; it neither stores nor logs
them. The server refuses sources on loopback, private or link-local
addresses unless its import.allow_cidrs allows them.`,
		Example: `  berth import myreg.azurecr.io/team/app:v1 --to https://berth.example/team/app
  berth import http://10.0.0.5:5000/app:v1 --to http://127.0.0.1:5000/mirror/app:v1 --referrers --wait 2m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "the Berth server and repository, BERTH/REPOSITORY[:TAG] (required)")
	fl.StringArrayVar(&f.platforms, "platform", nil, "import only this platform of an index, os/arch[/variant] (repeatable)")
	fl.BoolVar(&f.referrers, "referrers", false, "import signatures, attestations and SBOMs referring to the image")
	fl.StringVar(&f.srcCreds, "src-creds", "", "USER:PASSWORD for the source registry, sent to the server")
	fl.DurationVar(&f.wait, "wait", 0, "wait this long for the scan of the imported image")
	return cmd
}

func runImport(cmd *cobra.Command, f importFlags, srcArg string) error {
	usage := func(err error) error { return &usageError{cmd: cmd.CommandPath(), err: err} }
	src, err := remote.ParseImageRef(srcArg)
	if err != nil {
		return usage(err)
	}
	if src.Ref == "" {
		return usage(fmt.Errorf("%q: name a tag or a digest", srcArg))
	}
	if f.to == "" {
		return usage(errors.New("--to BERTH/REPOSITORY[:TAG] is required"))
	}
	to, err := remote.ParseImageRef(f.to)
	if err != nil {
		return usage(fmt.Errorf("--to: %w", err))
	}
	if oci.IsDigest(to.Ref) {
		return usage(errors.New("--to takes a tag, not a digest: the digest is the source's"))
	}
	look, err := lookupFromCreds("--src-creds", f.srcCreds)
	if err != nil {
		return usage(err)
	}
	// BERTH_USERNAME and BERTH_PASSWORD are the Berth server's: they must
	// not reach the source.
	look.Env = func(k string) (string, bool) {
		if k == "BERTH_USERNAME" || k == "BERTH_PASSWORD" {
			return "", false
		}
		return os.LookupEnv(k)
	}
	ctx, stderr := cmd.Context(), cmd.ErrOrStderr()
	u, _ := url.Parse(src.Registry)
	cred, from, err := remote.ResolveCredential(ctx, u.Host, look)
	if err != nil {
		return err
	}
	req := api.ImageImportRequest{Source: src.String(), Target: to.Repo, Referrers: f.referrers, Platforms: f.platforms}
	if to.Ref != "" {
		req.Target += ":" + to.Ref
	}
	if !cred.Empty() {
		req.Credentials = &api.ImageImportCredentials{Username: cred.Username, Password: cred.Password, IdentityToken: cred.IdentityToken}
		fmt.Fprintf(stderr, "source credentials: %s (sent to the server for this import)\n", from)
	}
	c, err := newAPIClient(to.Registry)
	if err != nil {
		return usage(err)
	}
	// An import takes as long as the image takes to move; the context
	// bounds it.
	c.http.Timeout = 0
	var res api.ImageImportResult
	if err := c.call(ctx, http.MethodPost, "import", req, &res); err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	out := cmd.OutOrStdout()
	name := res.Repository + "@" + res.Digest
	if res.Tag != "" {
		name = res.Repository + ":" + res.Tag
	}
	fmt.Fprintf(out, "imported %s as %s/%s %s\n", res.Source, to.Registry, name, res.Digest)
	writeCopySummary(out, remote.CopyStats(res.Stats), 0)
	if f.wait <= 0 {
		fmt.Fprintf(out, "scan: %s%s\n", to.Registry, res.Scan)
		return nil
	}
	rep, err := waitForScan(ctx, c, strings.TrimPrefix(res.Scan, api.Prefix), f.wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "scan: %s", rep.Status)
	if rep.Reason != "" {
		fmt.Fprintf(out, " (%s)", rep.Reason)
	}
	for _, sev := range []vulndb.Severity{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"} {
		if n := rep.Summary[sev]; n > 0 {
			fmt.Fprintf(out, ", %s: %d", sev, n)
		}
	}
	fmt.Fprintln(out)
	return nil
}

// waitForScan polls the scan report until the scan is done.
func waitForScan(ctx context.Context, c *apiClient, path string, wait time.Duration) (*scanner.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		var rep scanner.Report
		err := c.call(ctx, http.MethodGet, path, nil, &rep)
		if err == nil && rep.Status != metadata.ScanPending && rep.Status != metadata.ScanScanning && rep.Status != "" {
			return &rep, nil
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			if err != nil {
				return nil, fmt.Errorf("waiting for the scan: %w (last: %w)", ctx.Err(), err)
			}
			return nil, fmt.Errorf("waiting for the scan: %w (status %s)", ctx.Err(), rep.Status)
		case <-t.C:
		}
	}
}
