package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/lifecycle/gc"
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

const gcLong = `Delete blobs no manifest references and uploads abandoned for longer than
the grace period, while the registry keeps serving (see docs/gc.md).

A blob is kept while any manifest (trashed ones included) references it, or
a repository linked it within the grace period. With --registry the server
runs the collection (POST /api/v1/gc); otherwise berth gc opens the data
directory itself (--data-dir or --config, as for berth serve), which is
safe beside a running server on the same host.`

// storageOpts locate the stores, locally or through a server.
type storageOpts struct {
	configFile string
	dataDir    string
	registry   string
	lookup     env
}

func (o *storageOpts) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.registry, "registry", "", "a Berth server URL, e.g. http://127.0.0.1:5000 (default: open the data directory)")
	fl.StringVar(&o.configFile, "config", "", "YAML configuration file of the server")
	fl.StringVar(&o.dataDir, "data-dir", "", "the server's data directory (default ./berth-data, or data_dir of --config)")
}

// localStores are the server's stores opened by a CLI verb.
type localStores struct {
	cfg   config.Config
	blobs *fsblob.Store
	meta  *sqlite.Store
}

func (l *localStores) Close() { l.meta.Close(); l.blobs.Close() }

func (o *storageOpts) open(ctx context.Context) (*localStores, error) {
	flags := map[string]string{}
	if o.dataDir != "" {
		flags["data_dir"] = o.dataDir
	}
	cfg, err := config.Build(config.Sources{File: o.configFile, Env: o.lookup, Flags: flags})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.StorageDir()); err != nil {
		return nil, fmt.Errorf("blob directory %s: %w (give --data-dir or --config as for berth serve)", cfg.StorageDir(), err)
	}
	blobs, err := fsblob.Open(ctx, cfg.StorageDir(), fsblob.Options{})
	if err != nil {
		return nil, err
	}
	meta, err := sqlite.Open(ctx, cfg.MetadataPath(), sqlite.Options{})
	if err != nil {
		blobs.Close()
		return nil, err
	}
	return &localStores{cfg: cfg, blobs: blobs, meta: meta}, nil
}

func newGC(lookup env) *cobra.Command {
	o := &storageOpts{lookup: lookup}
	var (
		dryRun bool
		grace  time.Duration
		output string
	)
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--grace 1h]",
		Short: "Garbage-collect unreferenced blobs and abandoned uploads",
		Long:  gcLong,
		Example: `  berth gc --dry-run
  berth gc --grace 24h --data-dir /var/lib/berth
  berth gc --registry http://127.0.0.1:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", output)}
			}
			if grace < 0 {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--grace must not be negative")}
			}
			var graceSet *time.Duration
			if cmd.Flags().Changed("grace") {
				graceSet = &grace
			}
			res, err := runGC(cmd.Context(), cmd.ErrOrStderr(), o, dryRun, graceSet)
			if err != nil {
				return err
			}
			return printGC(cmd.OutOrStdout(), res, output)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be deleted and change nothing")
	cmd.Flags().DurationVar(&grace, "grace", time.Hour, "grace period (default: gc.grace_period of the server's configuration)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func runGC(ctx context.Context, progress io.Writer, o *storageOpts, dryRun bool, grace *time.Duration) (gc.Result, error) {
	var res gc.Result
	if o.registry != "" {
		q := url.Values{}
		q.Set("dry_run", fmt.Sprint(dryRun))
		if grace != nil {
			q.Set("grace", grace.String())
		}
		c, err := newAPIClient(o.registry)
		if err != nil {
			return res, err
		}
		return res, c.call(ctx, http.MethodPost, "gc?"+q.Encode(), nil, &res)
	}
	st, err := o.open(ctx)
	if err != nil {
		return res, err
	}
	defer st.Close()
	opts := gc.Options{Grace: st.cfg.GC.GracePeriod, DryRun: dryRun, Progress: func(r gc.Result) {
		fmt.Fprintf(progress, "deleted %d blobs (%s) so far\n", r.Blobs, retention.HumanBytes(r.Bytes))
	}}
	if grace != nil {
		opts.Grace = *grace
	}
	svc := gc.NewService(gc.New(st.blobs, st.meta, st.blobs, slog.New(slog.DiscardHandler)), st.meta, opts.Grace, nil)
	return svc.Run(ctx, opts)
}

func printGC(w io.Writer, r gc.Result, output string) error {
	if output == "json" {
		return writeJSONTo(w, r)
	}
	verb := "Deleted"
	if r.DryRun {
		verb = "Would delete"
	}
	fmt.Fprintf(w, "Scanned %d blobs (%s) with a grace period of %s.\n", r.Scanned, retention.HumanBytes(r.ScannedBytes), r.Grace)
	fmt.Fprintf(w, "%s %d blobs (%s) and %d abandoned uploads (%s) in %s.\n", verb, r.Blobs, retention.HumanBytes(r.Bytes),
		r.Uploads, retention.HumanBytes(r.UploadBytes), r.Finished.Sub(r.Started).Round(time.Millisecond))
	return nil
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newUsage(lookup env) *cobra.Command {
	o := &storageOpts{lookup: lookup}
	var (
		output string
		exact  bool
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show stored bytes, per-repository unique and shared bytes, and what GC would reclaim",
		Long: `Show what the registry stores: the blob store's total, each repository's
bytes split into unique (no other repository links the blob) and shared,
its quota, and the bytes garbage collection would reclaim now.

The figures come from the metadata database (the blobs repositories link),
which is cheap at any size. --exact walks the blob store instead and runs a
garbage-collection dry run, which also counts files no repository links
(left by a deleted repository or a crash until gc takes them): seconds for
a hundred thousand blobs.`,
		Example: `  berth usage
  berth usage --registry http://127.0.0.1:5000 --output json
  berth usage --exact`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", output)}
			}
			rep, err := runUsage(cmd.Context(), o, exact)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), rep)
			}
			return printUsage(cmd.OutOrStdout(), rep)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&exact, "exact", false, "walk the blob store and run a gc dry run instead of reading metadata")
	return cmd
}

func runUsage(ctx context.Context, o *storageOpts, exact bool) (quota.Report, error) {
	var rep quota.Report
	if o.registry != "" {
		c, err := newAPIClient(o.registry)
		if err != nil {
			return rep, err
		}
		path := "usage"
		if exact {
			path += "?exact=true"
		}
		return rep, c.call(ctx, http.MethodGet, path, nil, &rep)
	}
	st, err := o.open(ctx)
	if err != nil {
		return rep, err
	}
	defer st.Close()
	var limiter *quota.Limiter
	if rules, err := st.cfg.Quota.Rules(); err == nil && len(rules) > 0 {
		opts := quota.Options{}
		for _, r := range rules {
			opts.Repos = append(opts.Repos, quota.Rule{Pattern: r.Pattern, Limit: int64(r.Limit)})
		}
		limiter, _ = quota.New(st.meta, opts)
	}
	m := quota.Meter{Blobs: st.blobs, Links: st.meta, Limiter: limiter,
		Reclaimer: gc.New(st.blobs, st.meta, st.blobs, nil), Grace: st.cfg.GC.GracePeriod, Trash: st.meta, Totals: st.meta}
	if exact {
		return m.Exact(ctx)
	}
	return m.Usage(ctx)
}

func printUsage(w io.Writer, r quota.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tBLOBS\tBYTES\tUNIQUE\tSHARED\tQUOTA")
	for _, u := range r.Repositories {
		q := "-"
		if u.Quota > 0 {
			q = retention.HumanBytes(u.Quota)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", u.Name, u.Blobs, retention.HumanBytes(u.Bytes),
			retention.HumanBytes(u.UniqueBytes), retention.HumanBytes(u.SharedBytes), q)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nStored: %d blobs, %s. Reclaimable by gc now: %d blobs, %s.\n",
		r.StoredBlobs, retention.HumanBytes(r.StoredBytes), r.ReclaimableBlobs, retention.HumanBytes(r.ReclaimableBytes))
	if err != nil || r.TrashManifests == 0 {
		return err
	}
	_, err = fmt.Fprintf(w, "Recycle bin: %d manifests, %s (freed by berth trash empty, then gc).\n",
		r.TrashManifests, retention.HumanBytes(r.TrashBytes))
	return err
}
