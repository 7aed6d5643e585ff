package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/metadata"
)

func newLock() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Lock repositories, tags and manifests; immutability rules",
		Long: `Locks are ACR's attributes on a repository, a tag or a digest:
--write=false forbids moving a tag and deleting, --delete=false forbids
deleting, --read=false forbids pulling. Immutability rules make matching
tags unchangeable once pushed. A refused operation is 403 DENIED naming the
lock. See docs/lifecycle.md.`,
	}
	registryFlag(cmd, &registry)

	var write, del, read bool
	set := &cobra.Command{
		Use: "set REPO[:TAG|@DIGEST] [--write=false] [--delete=false] [--read=false]", Short: "Set a lock", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			repo, tag, d, err := parseRef(args[0])
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			l := metadata.Lock{Repo: repo, Tag: tag, Digest: d, WriteEnabled: write, DeleteEnabled: del, ReadEnabled: read}
			if err := c.call(cmd.Context(), http.MethodPut, "locks", l, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "locked %s (write-enabled=%t delete-enabled=%t read-enabled=%t)\n", args[0], write, del, read)
			return nil
		},
	}
	set.Flags().BoolVar(&write, "write", true, "allow moving tags and deleting")
	set.Flags().BoolVar(&del, "delete", true, "allow deleting")
	set.Flags().BoolVar(&read, "read", true, "allow pulling")

	var repo string
	list := &cobra.Command{
		Use: "list [--repo NAME]", Short: "List locks and immutability rules", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			var locks struct {
				Locks []metadata.Lock `json:"locks"`
			}
			var rules struct {
				Rules []metadata.ImmutableRule `json:"rules"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "locks?repository="+url.QueryEscape(repo), nil, &locks); err != nil {
				return err
			}
			if err := c.call(cmd.Context(), http.MethodGet, "immutable-rules", nil, &rules); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REFERENCE\tWRITE\tDELETE\tREAD\tBY")
			for _, l := range locks.Locks {
				ref := l.Repo
				switch {
				case l.Tag != "":
					ref += ":" + l.Tag
				case l.Digest != "":
					ref += "@" + l.Digest.String()
				}
				fmt.Fprintf(tw, "%s\t%t\t%t\t%t\t%s\n", ref, l.WriteEnabled, l.DeleteEnabled, l.ReadEnabled, l.Actor)
			}
			for _, r := range rules.Rules {
				fmt.Fprintf(tw, "rule %d: repositories %q tags %q\timmutable\t\t\t%s\n", r.ID, r.Repos, r.Tags, r.Actor)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&repo, "repo", "", "only locks of this repository")

	clear := &cobra.Command{
		Use: "clear REPO[:TAG|@DIGEST]", Short: "Remove a lock", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			repo, tag, d, err := parseRef(args[0])
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			q := url.Values{"repository": {repo}, "tag": {tag}, "digest": {d.String()}}
			if err := c.call(cmd.Context(), http.MethodDelete, "locks?"+q.Encode(), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s\n", args[0])
			return nil
		},
	}

	var repos, tags string
	immutable := &cobra.Command{
		Use: "immutable --repos REGEX --tags REGEX | --delete ID", Short: "Add or delete an immutability rule", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			if id, _ := cmd.Flags().GetInt64("delete"); id > 0 {
				if err := c.call(cmd.Context(), http.MethodDelete, "immutable-rules?id="+strconv.FormatInt(id, 10), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted rule %d\n", id)
				return nil
			}
			var r metadata.ImmutableRule
			in := map[string]string{"repositories": repos, "tags": tags}
			if err := c.call(cmd.Context(), http.MethodPost, "immutable-rules", in, &r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rule %d: tags matching %q in repositories matching %q are immutable\n", r.ID, r.Tags, r.Repos)
			return nil
		},
	}
	immutable.Flags().StringVar(&repos, "repos", ".*", "repository regular expression (whole name)")
	immutable.Flags().StringVar(&tags, "tags", "", "tag regular expression (whole name), e.g. 'release-.*'")
	immutable.Flags().Int64("delete", 0, "delete the rule with this number instead")
	cmd.AddCommand(set, list, clear, immutable)
	return cmd
}
