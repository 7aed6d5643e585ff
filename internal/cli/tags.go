package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/fleet"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/remote"
)

func newRepos() *cobra.Command {
	var (
		creds  credFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "repos REGISTRY",
		Short: "List the repositories of any registry (Berth, ACR, any OCI registry)",
		Long: `Lists the repositories of a registry, like az acr repository list.
REGISTRY is a URL (http://127.0.0.1:5000) or a host (myreg.azurecr.io,
which means https). Credentials come from --username/--password,
BERTH_<HOST>_USERNAME/PASSWORD, BERTH_USERNAME/BERTH_PASSWORD or the Docker
config file and its credential helpers; see docs/fleet.md.`,
		Example: "  berth repos myreg.azurecr.io\n  berth repos http://127.0.0.1:5000 --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output: want table or json, got %q", output)}
			}
			look, err := creds.lookup(cmd.InOrStdin())
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			reg, err := fleet.Open(cmd.Context(), fleet.Target{URL: args[0], Credentials: look, Mode: remote.DeleteDigest})
			if err != nil {
				return err
			}
			names, err := reg.Source.Repositories(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing repositories of %s: %w", reg.URL, err)
			}
			slices.Sort(names)
			if output == "json" {
				return writeReport(cmd.OutOrStdout(), struct {
					Registry     string   `json:"registry"`
					Repositories []string `json:"repositories"`
				}{reg.URL, append([]string{}, names...)})
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	creds.register(cmd.Flags())
	cmd.Flags().StringVar(&output, "output", "table", "table or json")
	return cmd
}

func newTags() *cobra.Command {
	var (
		creds         credFlags
		output, order string
		concurrency   int
	)
	cmd := &cobra.Command{
		Use:   "tags REGISTRY/REPOSITORY",
		Short: "List the tags of a repository with their digests and times",
		Long: `Lists a repository's tags, like az acr repository show-tags --detail.
The OCI API has no push time, so the times come from the registry's own
metadata where it has some: Berth's /api/v1 (when the tag last moved),
ACR's /acr/v1/{repo}/_tags (lastUpdateTime); elsewhere from the image
config's created field, one manifest and one config read per tag. The
output says which. Reproducible builds set created to 1970-01-01 or
0001-01-01: such times cannot order tags and a warning says so.

Referrers stored as tags (sha256-<digest>, .sig, .att, .sbom) are not
listed on registries without Berth's or ACR's metadata.`,
		Example: "  berth tags myreg.azurecr.io/team/app --orderby time_desc\n  berth tags http://127.0.0.1:5000/app --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []string
			if output != "table" && output != "json" {
				errs = append(errs, fmt.Sprintf("--output: want table or json, got %q", output))
			}
			if order != "" && order != "time_asc" && order != "time_desc" {
				errs = append(errs, fmt.Sprintf("--orderby: want time_asc or time_desc, got %q", order))
			}
			regURL, repo, ok := splitRepoRef(args[0])
			if !ok {
				errs = append(errs, fmt.Sprintf("%q: want REGISTRY/REPOSITORY", args[0]))
			}
			if len(errs) > 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("%s", strings.Join(errs, "\n"))}
			}
			look, err := creds.lookup(cmd.InOrStdin())
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			reg, err := fleet.Open(cmd.Context(), fleet.Target{URL: regURL, Credentials: look, Mode: remote.DeleteDigest, Concurrency: concurrency})
			if err != nil {
				return err
			}
			tags, err := reg.Source.Tags(cmd.Context(), repo)
			if err != nil {
				return fmt.Errorf("listing tags of %s/%s: %w", reg.URL, repo, err)
			}
			sortTags(tags, order)
			unusable := 0
			for _, t := range tags {
				if !remote.UsableTime(t.PushedAt) {
					unusable++
				}
			}
			if unusable > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "berth: warning: %d of %d tags have unusable times (1970-01-01 or 0001-01-01, as reproducible builds set them): ordering by time is meaningless for them\n", unusable, len(tags))
			}
			return writeTags(cmd.OutOrStdout(), output, reg, repo, tags)
		},
	}
	creds.register(cmd.Flags())
	cmd.Flags().StringVar(&output, "output", "table", "table or json")
	cmd.Flags().StringVar(&order, "orderby", "", "time_asc or time_desc; default by name")
	cmd.Flags().IntVar(&concurrency, "concurrency", 8, "manifest and config reads in flight (registries without time metadata)")
	return cmd
}

// splitRepoRef cuts REGISTRY/REPO at the first slash after the host,
// keeping a scheme with the registry.
func splitRepoRef(s string) (registry, repo string, ok bool) {
	scheme := ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, s = s[:i+3], s[i+3:]
	}
	host, repo, ok := strings.Cut(s, "/")
	repo = strings.Trim(repo, "/")
	return scheme + host, repo, ok && host != "" && repo != ""
}

func sortTags(tags []retention.Tag, order string) {
	slices.SortStableFunc(tags, func(a, b retention.Tag) int {
		switch order {
		case "time_asc":
			if c := a.PushedAt.Compare(b.PushedAt); c != 0 {
				return c
			}
		case "time_desc":
			if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
				return c
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// tagRow is one tag of berth tags --output json.
type tagRow struct {
	Name   string    `json:"name"`
	Digest string    `json:"digest"`
	Time   time.Time `json:"time"`
	// Usable is false for 1970 and 0001 build times.
	Usable bool `json:"usable"`
	Locked bool `json:"locked,omitempty"`
}

func writeTags(w io.Writer, output string, reg *fleet.Registry, repo string, tags []retention.Tag) error {
	rows := make([]tagRow, len(tags))
	for i, t := range tags {
		rows[i] = tagRow{Name: t.Name, Digest: t.Digest.String(), Time: t.PushedAt, Usable: remote.UsableTime(t.PushedAt), Locked: t.Locked}
	}
	if output == "json" {
		return writeReport(w, struct {
			Registry   string   `json:"registry"`
			Repository string   `json:"repository"`
			TimeSource string   `json:"timeSource"`
			Tags       []tagRow `json:"tags"`
		}{reg.URL, repo, reg.Times, rows})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tDIGEST\tTIME")
	for _, r := range rows {
		ts := r.Time.UTC().Format(time.RFC3339)
		if !r.Usable {
			ts += " (unusable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, retention.ShortDigest(digest.Digest(r.Digest)), ts)
	}
	fmt.Fprintf(tw, "\n%d tags; times from %s\n", len(rows), reg.Times)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing tags: %w", err)
	}
	return nil
}
