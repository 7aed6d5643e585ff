package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/metadata"
)

// auditFlags are the filters of `berth audit`, passed to GET /api/v1/audit.
type auditFlags struct {
	registry, since, repo, actor, action, output string
	n                                            int
}

func newAudit() *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query the audit log of a Berth server",
		Long: `Show who did what, from where, with what result: logins (also failed
ones), pushes, deletions, restores, lock and rule changes, GC and retention
runs, refused requests. Newest first. With authentication on, the server
asks for an administrator. See docs/access.md.`,
		Example: `  berth audit --since 1h
  berth audit --repo team/app --action manifest.pushed
  berth audit --actor ci --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "table" && f.output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", f.output)}
			}
			c, err := newAPIClient(f.registry)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"since": f.since, "repo": f.repo, "actor": f.actor, "action": f.action} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if f.n > 0 {
				q.Set("n", strconv.Itoa(f.n))
			}
			var page struct {
				Records []metadata.AuditRecord `json:"records"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "audit?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), page.Records)
			}
			return writeAuditTable(cmd.OutOrStdout(), page.Records)
		},
	}
	registryFlag(cmd, &f.registry)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only records newer than a duration (1h, 30m) or an RFC 3339 time")
	fl.StringVar(&f.repo, "repo", "", "only records about this repository")
	fl.StringVar(&f.actor, "actor", "", "only records by this user, token or policy")
	fl.StringVar(&f.action, "action", "", "only this action, e.g. manifest.pushed, login, request.denied")
	fl.IntVarP(&f.n, "limit", "n", 0, "at most this many records (default: the server's page size)")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
	return cmd
}

func writeAuditTable(w io.Writer, recs []metadata.AuditRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tCLIENT\tACTION\tREPOSITORY\tREFERENCE\tRESULT")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), dash(r.Actor), dash(r.ClientIP),
			r.Action, dash(r.Repo), dash(r.Reference), r.Result)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
