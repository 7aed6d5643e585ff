package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-registry/berth/internal/fleet"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/remote"
)

// credFlags are the credential flags of the commands that talk to any
// registry.
type credFlags struct {
	username, password string
	passwordStdin      bool
}

func (c *credFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.username, "username", "", "registry user name (else BERTH_USERNAME, then the Docker config)")
	fl.StringVar(&c.password, "password", "", "registry password or token; prefer --password-stdin")
	fl.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password or token from standard input")
}

// lookup reads the password from stdin if asked, once.
func (c *credFlags) lookup(stdin io.Reader) (remote.CredentialLookup, error) {
	if c.passwordStdin {
		if c.password != "" {
			return remote.CredentialLookup{}, errors.New("--password and --password-stdin are exclusive")
		}
		line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return remote.CredentialLookup{}, fmt.Errorf("reading password from stdin: %w", err)
		}
		c.password, c.passwordStdin = strings.TrimRight(line, "\r\n"), false
	}
	return remote.CredentialLookup{Username: c.username, Password: c.password}, nil
}

// purgeReport is the JSON output of berth purge for one registry.
type purgeReport struct {
	*fleet.Report
	// BytesFreed estimates what the deletions that happened freed.
	BytesFreed int64 `json:"bytesFreed"`
}

// fleetJob is one registry of a purge run.
type fleetJob struct {
	target fleet.Target
	plan   fleet.Planner
	opts   fleet.PurgeOptions
}

// maxRegistriesAtOnce bounds how many registries are purged in parallel;
// each has its own deletion concurrency on top.
const maxRegistriesAtOnce = 4

func runPurge(cmd *cobra.Command, f purgeFlags, filters []filterRepo, base retention.Policy) error {
	look, err := f.creds.lookup(cmd.InOrStdin())
	if err != nil {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	}
	var jobs []fleetJob
	for _, reg := range f.registries {
		jobs = append(jobs, fleetJob{
			target: fleet.Target{URL: reg, Credentials: look, IncludeLocked: f.includeLocked},
			plan: func(ctx context.Context, src fleet.Source, now time.Time) (*retention.Plan, error) {
				return planPurge(ctx, src, filters, base, now)
			},
			opts: fleet.PurgeOptions{DryRun: f.dryRun, AllowCollateral: f.allowColl, Force: f.force,
				UsesAge: base.OlderThan != nil, Concurrency: f.concurrency, Progress: cmd.ErrOrStderr()},
		})
	}
	return runFleet(cmd, jobs, f.output, f.dryRun)
}

func runFleetFile(cmd *cobra.Command, f purgeFlags) error {
	if cmd.Flags().Changed("registry") || len(f.filters) > 0 {
		return &usageError{cmd: cmd.CommandPath(), err: errors.New("--config lists the registries and policies; drop --registry and --filter")}
	}
	file, err := os.Open(f.config)
	if err != nil {
		return fmt.Errorf("reading fleet file: %w", err)
	}
	cfg, err := fleet.LoadConfig(file)
	file.Close()
	if err != nil {
		return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("%s: %w", f.config, err)}
	}
	var jobs []fleetJob
	for _, r := range cfg.Registries {
		usesAge := false
		for _, p := range r.Policies {
			usesAge = usesAge || p.OlderThan != nil
		}
		conc := r.Concurrency
		if conc == 0 {
			conc = cfg.Concurrency
		}
		if conc == 0 || cmd.Flags().Changed("concurrency") {
			conc = f.concurrency
		}
		jobs = append(jobs, fleetJob{
			target: fleet.Target{URL: r.URL, Kind: r.Kind, Mode: remote.DeleteMode(r.DeleteMode), Credentials: r.Credentials.Lookup()},
			plan:   fleet.PolicyPlanner(r.Policies),
			opts: fleet.PurgeOptions{DryRun: f.dryRun, AllowCollateral: r.AllowCollateral || f.allowColl, Force: r.Force || f.force,
				UsesAge: usesAge, Concurrency: conc, Progress: cmd.ErrOrStderr()},
		})
	}
	return runFleet(cmd, jobs, f.output, f.dryRun)
}

// runFleet purges every registry, a few at once, then prints each one's
// plan and result in the order given and a summary per registry.
func runFleet(cmd *cobra.Command, jobs []fleetJob, output string, dryRun bool) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	reports := make([]purgeReport, len(jobs))
	sem := make(chan struct{}, maxRegistriesAtOnce)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			reg, err := fleet.Open(ctx, j.target)
			if err != nil {
				reports[i] = purgeReport{Report: &fleet.Report{Registry: fleet.NormalizeURL(j.target.URL), Err: err, Error: err.Error()}}
				return
			}
			fmt.Fprintf(stderr, "%s: %s registry, times from %s, credentials: %s\n", reg.URL, reg.Kind, reg.Times, reg.CredentialFrom)
			rep := fleet.Purge(ctx, reg, j.plan, j.opts)
			reports[i] = purgeReport{Report: rep}
			if rep.Plan != nil && rep.Result != nil {
				reports[i].BytesFreed = freedBy(rep.Plan, rep.Result)
			}
		})
	}
	wg.Wait()
	if output == "json" {
		if len(reports) == 1 {
			return errors.Join(writeReport(stdout, reports[0]), reportErrs(reports))
		}
		return errors.Join(writeReport(stdout, struct {
			Registries []purgeReport `json:"registries"`
		}{reports}), reportErrs(reports))
	}
	for _, rep := range reports {
		if len(reports) > 1 {
			fmt.Fprintf(stdout, "== %s\n", rep.Registry)
		}
		if rep.Plan != nil {
			if err := retention.WriteTable(stdout, rep.Plan); err != nil {
				return err
			}
		}
		writeCollateral(stdout, rep.Report)
		if rep.Result != nil {
			if err := writeResult(stdout, rep.Result, rep.BytesFreed); err != nil {
				return err
			}
			for _, o := range rep.Result.Failed {
				fmt.Fprintf(stderr, "berth: failed: %s\n", o.Error)
			}
		} else if dryRun && rep.Err == nil {
			fmt.Fprintln(stdout, "\nDry run: nothing was deleted.")
		}
		if len(reports) > 1 {
			fmt.Fprintln(stdout)
		}
	}
	if len(reports) > 1 {
		writeFleetSummary(stdout, reports)
	}
	return reportErrs(reports)
}

func writeCollateral(w io.Writer, rep *fleet.Report) {
	if len(rep.Collateral) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s deletes tags by deleting their manifest, which takes these kept tags along:\n", rep.Registry)
	for _, c := range rep.Collateral {
		fmt.Fprintf(w, "  %s:%s (%s) goes with %s; it was %s\n", c.Repo, c.Tag, retention.ShortDigest(c.Digest), c.With, c.Was)
	}
}

func writeFleetSummary(w io.Writer, reports []purgeReport) {
	fmt.Fprintln(w, "SUMMARY")
	for _, r := range reports {
		status := "ok"
		if r.Err != nil {
			status = "error: " + r.Error
		}
		var planned, deleted, failed int
		if r.Plan != nil {
			planned = r.Plan.Summary.TagsDeleted + r.Plan.Summary.ManifestsDeleted
		}
		if r.Result != nil {
			deleted, failed = len(r.Result.Deleted), len(r.Result.Failed)
		}
		fmt.Fprintf(w, "  %s: %d planned deletions, %d done, %d failed; %s\n", r.Registry, planned, deleted, failed, status)
	}
}

func reportErrs(reports []purgeReport) error {
	var errs []error
	for _, r := range reports {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("purging %s: %w", r.Registry, r.Err))
		}
	}
	return errors.Join(errs...)
}
