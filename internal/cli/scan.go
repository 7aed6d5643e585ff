package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/image"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

const scanLong = `Scan an image for known vulnerabilities, offline, against OSV advisories,
and fail a CI job when it has some. The flags mean what Trivy's do.

IMAGE is one of:
  oci:DIR[:TAG]                 an OCI image layout directory (DIR alone also works)
  docker-archive:FILE           a docker save tarball (FILE.tar alone also works)
  HOST[:PORT]/REPO[:TAG|@DIGEST] an image in a registry, read anonymously; plain
                                HTTP for 127.0.0.1 and localhost, or with --insecure

--severity keeps only findings of those severities, in the output and for
the exit code. With --exit-code N, berth exits N when any finding is left
after the filters, and 0 otherwise. A scan that could not read the whole
image is reported as PARTIAL on stderr and in every format: it never
claims an image is clean.

With --rescan, IMAGE is in a Berth server: berth asks the server to scan it
again now, against the server's own database (--db is not used), waits for
the result and reports it as above, with the same filters and exit code.`

const scanExample = `  # The CI gate: fail on fixable HIGH and CRITICAL vulnerabilities
  berth scan 127.0.0.1:5000/team/app:v1 --db ./osv/Go-all.zip --db ./osv/Debian-all.zip \
      --severity HIGH,CRITICAL --ignore-unfixed --exit-code 1

  # SARIF for a code-scanning dashboard, from a docker save tarball
  docker save app:v1 -o app.tar
  berth scan app.tar --db ./osv --format sarif --output berth.sarif

  # The same gate on an image a Berth server already holds: the server rescans
  berth scan --rescan 127.0.0.1:5000/team/app:v1 --severity HIGH,CRITICAL --exit-code 1

  # An SBOM of an OCI layout
  berth scan oci:./layout:v1 --db ./osv --format cyclonedx --output sbom.json`

type scanFlags struct {
	dbs           []string
	severity      string
	exitCode      int
	ignoreUnfixed bool
	format        string
	output        string
	platform      string
	insecure      bool
	creds         credFlags
	all           bool
	concurrency   int
	rescan        bool
	wait          time.Duration
}

// scanOptions are the flags, checked.
type scanOptions struct {
	dbs      []string
	filter   scanreport.Filter
	exitCode int
	format   scanreport.Format
	output   string
	image    image.Options
	// creds finds the registry's credentials (docs/fleet.md).
	creds remote.CredentialLookup
	// concurrency bounds the images scan --all reads at once.
	concurrency int
	// rescan asks a Berth server to scan the image (--rescan), waiting up
	// to wait.
	rescan bool
	wait   time.Duration
}

func newScan() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:     "scan IMAGE --db PATH [flags]",
		Short:   "Scan an image for vulnerabilities; the CI gate",
		Long:    scanLong,
		Example: scanExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("want exactly one IMAGE, got %d arguments", len(args))}
			}
			opts, err := f.check()
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			if opts.creds, err = f.creds.lookup(cmd.InOrStdin()); err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			if f.rescan {
				return runScanRescan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], opts)
			}
			if f.all {
				return runScanAll(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], opts)
			}
			return runScan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.dbs, "db", nil, "OSV advisories: a directory of JSON or an osv.dev all.zip (repeatable; required)")
	fl.StringVar(&f.severity, "severity", "", "severities to report, comma-separated: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL (default all)")
	fl.IntVar(&f.exitCode, "exit-code", 0, "exit code when any finding remains after the filters")
	fl.BoolVar(&f.ignoreUnfixed, "ignore-unfixed", false, "report only vulnerabilities with a fixed version")
	fl.StringVarP(&f.format, "format", "f", "table", "output format: table, json, sarif, cyclonedx, spdx")
	fl.StringVarP(&f.output, "output", "o", "", "write the report to FILE instead of standard output")
	fl.StringVar(&f.platform, "platform", "linux/amd64", "platform to pick from a multi-platform image: os/arch[/variant]")
	fl.BoolVar(&f.insecure, "insecure", false, "use plain HTTP to the registry")
	fl.BoolVar(&f.all, "all", false, "scan every tag of every repository of REGISTRY, or of REGISTRY/REPO")
	fl.IntVar(&f.concurrency, "concurrency", 4, "images scanned at once with --all (1-16)")
	fl.BoolVar(&f.rescan, "rescan", false, "ask the Berth server holding IMAGE to scan it again now, and report its result")
	fl.DurationVar(&f.wait, "wait", 5*time.Minute, "with --rescan, how long to wait for the server's scan")
	f.creds.register(fl)
	return cmd
}

func (f *scanFlags) check() (scanOptions, error) {
	o := scanOptions{dbs: f.dbs, exitCode: f.exitCode, output: f.output, concurrency: f.concurrency, rescan: f.rescan, wait: f.wait}
	if f.rescan && f.all {
		return o, errors.New("--rescan scans one image; it cannot be combined with --all")
	}
	if f.rescan && len(f.dbs) > 0 {
		return o, errors.New("--rescan matches against the server's database; --db cannot be used with it")
	}
	if f.all && (f.concurrency < 1 || f.concurrency > 16) {
		return o, fmt.Errorf("--concurrency %d: want 1 to 16", f.concurrency)
	}
	if len(f.dbs) == 0 && !f.rescan {
		return o, errors.New("--db is required: berth scans offline, against OSV advisories you provide")
	}
	// Shells keep only the low byte of an exit status.
	if f.exitCode < 0 || f.exitCode > 255 {
		return o, fmt.Errorf("--exit-code %d: must be between 0 and 255", f.exitCode)
	}
	var err error
	if o.format, err = scanreport.ParseFormat(f.format); err != nil {
		return o, err
	}
	if f.severity != "" {
		for _, s := range strings.Split(f.severity, ",") {
			sev := vulndb.Severity(strings.ToUpper(strings.TrimSpace(s)))
			if !slices.Contains(scanreport.Severities, sev) {
				return o, fmt.Errorf("--severity: unknown severity %q (want UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)", s)
			}
			if !slices.Contains(o.filter.Severities, sev) {
				o.filter.Severities = append(o.filter.Severities, sev)
			}
		}
	}
	o.filter.IgnoreUnfixed = f.ignoreUnfixed
	if o.image.Platform, err = image.ParsePlatform(f.platform); err != nil {
		return o, fmt.Errorf("--platform: %w", err)
	}
	o.image.Insecure = f.insecure
	return o, nil
}

// gateError is a scan that worked and found what the gate refuses.
type gateError struct {
	code int
	n    int
}

func (e *gateError) Error() string {
	return fmt.Sprintf("%d vulnerabilities left after the filters (exit code %d)", e.n, e.code)
}

// ExitCode is the code --exit-code asked for.
func (e *gateError) ExitCode() int { return e.code }

func runScan(ctx context.Context, stdout, stderr io.Writer, ref string, o scanOptions) error {
	db, err := loadVulnDB(ctx, o.dbs)
	if err != nil {
		return err
	}
	if db.Len() == 0 {
		// An empty database finds nothing: a gate that passes on it lies.
		return fmt.Errorf("no advisories in %s; see berth vulndb status", strings.Join(o.dbs, ", "))
	}
	im, err := openScanImage(ctx, ref, o, stderr)
	if err != nil {
		return fmt.Errorf("opening image: %w", err)
	}
	s, err := scanOpened(ctx, db, im, ref, o)
	if err != nil {
		return err
	}
	if err := writeScanReport(stdout, o, s); err != nil {
		return err
	}
	if s.Partial() {
		fmt.Fprintf(stderr, "berth: WARNING: PARTIAL SCAN of %s: vulnerabilities may be missing:\n", ref)
		for _, r := range s.Inventory.Reasons {
			fmt.Fprintf(stderr, "berth:   %s\n", r)
		}
	}
	if o.exitCode != 0 && len(s.Findings) > 0 {
		return &gateError{code: o.exitCode, n: len(s.Findings)}
	}
	return nil
}

// scanOpened reads the image's inventory and matches it; im is closed.
func scanOpened(ctx context.Context, db *vulndb.DB, im *image.Image, ref string, o scanOptions) (*scanreport.Scan, error) {
	defer im.Close()
	inv, err := inventory.Read(ctx, im.Layers, inventory.Options{})
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", ref, err)
	}
	res := match.New(db).Run(inv)
	return &scanreport.Scan{
		Image: ref, Digest: string(im.Digest), ConfigDigest: string(im.ConfigDigest), Platform: im.Platform.String(),
		Inventory: inv, DBVersion: db.Version(), Findings: filterFindings(res.Findings, o.filter),
		Notes: res.Notes, Filter: o.filter, Created: time.Now().UTC().Truncate(time.Second), ToolVersion: version,
	}, nil
}

// filterFindings applies --severity and --ignore-unfixed.
func filterFindings(fs []match.Finding, f scanreport.Filter) []match.Finding {
	out := []match.Finding{}
	for _, x := range fs {
		if len(f.Severities) > 0 && !slices.Contains(f.Severities, x.Severity) {
			continue
		}
		if f.IgnoreUnfixed && len(x.FixedVersions) == 0 {
			continue
		}
		out = append(out, x)
	}
	return out
}

// writeScanReport writes to --output through a temporary file renamed into
// place, so a CI step never picks up half a scanreport.
func writeScanReport(stdout io.Writer, o scanOptions, s *scanreport.Scan) error {
	if o.output == "" {
		return scanreport.Write(stdout, o.format, s)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.output), ".berth-scan-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	defer os.Remove(tmp.Name())
	if err := scanreport.Write(tmp, o.format, s); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	if err := os.Rename(tmp.Name(), o.output); err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	return nil
}
