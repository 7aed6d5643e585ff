package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

func newVulndb() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vulndb",
		Short: "Inspect, import, publish and fetch vulnerability databases (OSV)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newVulndbStatus(), newVulndbImport(), newVulndbPush(), newVulndbPull())
	return cmd
}

func newVulndbStatus() *cobra.Command {
	var (
		dbs      []string
		asJSON   bool
		registry string
	)
	cmd := &cobra.Command{
		Use:   "status --db PATH [--db PATH...] | --registry URL",
		Short: "Show what a vulnerability database holds: sources, counts, newest entry, version",
		Long: `Import the given OSV sources as berth scan would and describe the result:
its version (the same version every finding of a scan records), the number
of advisories per source and per ecosystem, the newest 'modified' time, and
the entries that were skipped and why.

--db takes a directory of OSV JSON files (searched recursively) or an
osv.dev all.zip; give it several times to combine sources.

--registry asks a running berth serve instead: the database it scans with,
and the re-match of stored inventories that follows a database change
(version being applied, done of total).`,
		Example: `  berth vulndb status --db ./osv/Go-all.zip --db ./osv/Debian-all.zip
  berth vulndb status --registry http://127.0.0.1:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if registry != "" {
				return serverDBStatus(cmd.Context(), cmd.OutOrStdout(), registry, asJSON)
			}
			if len(dbs) == 0 {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--db or --registry is required")}
			}
			db, err := loadVulnDB(cmd.Context(), dbs)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(db.Status())
			}
			return writeDBStatus(cmd.OutOrStdout(), db.Status())
		},
	}
	cmd.Flags().StringArrayVar(&dbs, "db", nil, "OSV directory or all.zip (repeatable; required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().StringVar(&registry, "registry", "", "base URL of a Berth server to ask instead of --db")
	return cmd
}

// serverDBStatus prints GET /api/v1/vulndb: the server's database and its
// rematch.
func serverDBStatus(ctx context.Context, w io.Writer, registry string, asJSON bool) error {
	c, err := newAPIClient(registry)
	if err != nil {
		return err
	}
	var st api.DBStatus
	if err := c.call(ctx, http.MethodGet, "vulndb", nil, &st); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if st.DB == nil {
		_, err := fmt.Fprintf(w, "No database: %s\n", st.Reason)
		return err
	}
	if err := writeDBStatus(w, *st.DB); err != nil {
		return err
	}
	if rm := st.Rematch; rm != nil && rm.State != scanner.RematchIdle {
		fmt.Fprintf(w, "\nRe-match:    %s, version %s, %d of %d inventories", rm.State, rm.Version, rm.Done, rm.Total)
		if rm.State != scanner.RematchRunning {
			fmt.Fprintf(w, ", %d gained a CRITICAL or HIGH finding", rm.NewCritical)
		}
		if rm.Error != "" {
			fmt.Fprintf(w, " (%s)", rm.Error)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// loadDB imports every path into one snapshot.
func loadVulnDB(ctx context.Context, paths []string) (*vulndb.DB, error) {
	b := vulndb.NewBuilder(vulndb.Limits{})
	for _, p := range paths {
		if err := b.AddPath(ctx, p); err != nil {
			return nil, fmt.Errorf("loading vulnerability database: %w", err)
		}
	}
	return b.Build(), nil
}

func writeDBStatus(w io.Writer, st vulndb.Status) error {
	newest := "-"
	if !st.Newest.IsZero() {
		newest = st.Newest.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Version:     %s\nAdvisories:  %d\nNewest:      %s\n", st.Version, st.Advisories, newest)
	ecos := make([]string, 0, len(st.Ecosystems))
	for e := range st.Ecosystems {
		ecos = append(ecos, e)
	}
	slices.Sort(ecos)
	fmt.Fprint(w, "Ecosystems: ")
	if len(ecos) == 0 {
		fmt.Fprint(w, " none")
	}
	for _, e := range ecos {
		fmt.Fprintf(w, " %s %d", e, st.Ecosystems[e])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tENTRIES\tWITHDRAWN\tINVALID\tDUPLICATES\tNEWEST")
	for _, s := range st.Sources {
		n := "-"
		if !s.Newest.IsZero() {
			n = s.Newest.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Entries, s.Withdrawn, s.Invalid, s.Duplicates, n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Problems) > 0 {
		fmt.Fprintf(w, "\nSkipped entries (first %d):\n", len(st.Problems))
		for _, p := range st.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if st.Advisories == 0 {
		fmt.Fprintln(w, "\nWARNING: the database is empty; a scan against it would find nothing.")
	}
	return nil
}
