package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
)

func newGate() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Manage scan gates: quarantine, blocking pulls by severity, exceptions",
		Long: `A gate applies to the repositories matching its pattern ("team/*"; the
longest matching pattern wins). It can quarantine new images until their
scan finishes, refuse pulls of images with findings at or above a
severity, and fail open or closed for images that could not be scanned.
Exceptions let named vulnerabilities through, with a reason and an
expiry. Registry admins are never gated. See docs/scanning.md#gates.`,
	}
	registryFlag(cmd, &registry)
	client := func(cmd *cobra.Command) (*apiClient, error) {
		c, err := newAPIClient(registry)
		if err != nil {
			return nil, &usageError{cmd: cmd.CommandPath(), err: err}
		}
		return c, nil
	}
	cmd.AddCommand(newGateSet(client), newGateList(client), newGateDelete(client),
		newGateAllow(client), newGateAllowlist(client), newGateUnallow(client))
	return cmd
}

func newGateSet(client clientFunc) *cobra.Command {
	var p metadata.GatePolicy
	cmd := &cobra.Command{
		Use:   "set PATTERN [--severity HIGH] [--quarantine] [--unscanned allow|deny] [--unknown none|LOW|…]",
		Short: "Create or replace the gate of the repositories matching PATTERN",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			p.Pattern = args[0]
			var got metadata.GatePolicy
			if err := c.call(cmd.Context(), http.MethodPut, "gates", p, &got); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gate %s: %s\n", got.Pattern, gateText(got))
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Severity, "severity", "", "refuse pulls of images with a finding at or above LOW, MEDIUM, HIGH or CRITICAL")
	cmd.Flags().BoolVar(&p.Quarantine, "quarantine", false, "refuse pulls of new images until their scan finishes")
	cmd.Flags().StringVar(&p.Unscanned, "unscanned", "allow", "images whose scan failed or could not run: allow (fail open) or deny (fail closed)")
	cmd.Flags().StringVar(&p.Unknown, "unknown", "none", "the severity UNKNOWN findings count as; none never refuses")
	return cmd
}

func gateText(p metadata.GatePolicy) string {
	var parts []string
	if p.Quarantine {
		parts = append(parts, "quarantine until scanned")
	}
	if p.Severity != "" {
		parts = append(parts, "refuse "+p.Severity+" and above")
	}
	if p.Unknown != "" {
		parts = append(parts, "UNKNOWN counts as "+p.Unknown)
	}
	if p.Unscanned == "deny" {
		parts = append(parts, "fail closed")
	} else {
		parts = append(parts, "fail open")
	}
	return strings.Join(parts, ", ")
}

func newGateList(client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List gates", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out api.GateList
			if err := c.call(cmd.Context(), http.MethodGet, "gates", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PATTERN\tGATE\tUPDATED\tBY")
			for _, p := range out.Gates {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Pattern, gateText(p), p.Updated.UTC().Format(time.RFC3339), p.Actor)
			}
			return tw.Flush()
		},
	}
}

func newGateDelete(client clientFunc) *cobra.Command {
	return newDeleteCommand(client, "delete PATTERN", "Delete the gate of PATTERN", "gate",
		func(pattern string) string { return "gates?pattern=" + url.QueryEscape(pattern) })
}

func newGateAllow(client clientFunc) *cobra.Command {
	var repo, reason, expires string
	cmd := &cobra.Command{
		Use:   "allow ID --repo PATTERN --reason TEXT [--expires 30d|2026-12-31]",
		Short: "Let a vulnerability (by id or alias) through the gates of PATTERN",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" || reason == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--repo and --reason are required")}
			}
			body := api.ExceptionBody{Pattern: repo, ID: args[0], Reason: reason}
			if expires != "" {
				t, err := parseExpiry(expires, time.Now())
				if err != nil {
					return &usageError{cmd: cmd.CommandPath(), err: err}
				}
				body.Expires = t
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var got metadata.GateException
			if err := c.call(cmd.Context(), http.MethodPost, "gates/exceptions", body, &got); err != nil {
				return err
			}
			until := "no expiry"
			if !got.Expires.IsZero() {
				until = "until " + got.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "allowed %s in %s (%s)\n", got.ID, got.Pattern, until)
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository or pattern the exception applies to (team/app, team/*)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the finding is acceptable (recorded)")
	cmd.Flags().StringVar(&expires, "expires", "", "when the exception stops applying: a duration (30d, 12h) or a date (2026-12-31); empty never")
	return cmd
}

// parseExpiry reads a duration from now (days allowed: 30d) or a date or
// RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d).UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want a duration (30d, 12h), a date (2026-12-31) or an RFC 3339 time", s)
}

func newGateAllowlist(client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use: "allowlist", Short: "List exceptions, expired ones marked", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out api.GateExceptionList
			if err := c.call(cmd.Context(), http.MethodGet, "gates/exceptions", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PATTERN\tID\tEXPIRES\tBY\tREASON")
			for _, e := range out.Exceptions {
				exp := "never"
				if !e.Expires.IsZero() {
					exp = e.Expires.UTC().Format(time.RFC3339)
				}
				if e.Expired {
					exp += " (expired)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Pattern, e.ID, exp, e.Actor, e.Reason)
			}
			return tw.Flush()
		},
	}
}

func newGateUnallow(client clientFunc) *cobra.Command {
	var repo string
	cmd := &cobra.Command{
		Use: "unallow ID --repo PATTERN", Short: "Remove an exception", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--repo is required")}
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"pattern": {repo}, "id": {args[0]}}
			if err := c.call(cmd.Context(), http.MethodDelete, "gates/exceptions?"+q.Encode(), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed the exception for %s in %s\n", args[0], repo)
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "the exception's repository or pattern")
	return cmd
}
