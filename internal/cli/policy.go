package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/lifecycle/policy"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/lifecycle/schedule"
	"github.com/berth-registry/berth/internal/metadata"
)

// maxPolicyFile bounds a policy file read by berth policy create.
const maxPolicyFile = 1 << 20

func newPolicy() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage retention policies stored and scheduled on a Berth server",
		Long: `Retention policies stored on the server run on their schedule (a cron
expression such as '0 3 * * *', in UTC, or an interval such as 24h, 1d or
@daily) and on demand. Every run is recorded with its
counts and bytes freed. The rules are those of berth purge; see
docs/retention.md.`,
	}
	registryFlag(cmd, &registry)
	client := func(cmd *cobra.Command) (*apiClient, error) {
		c, err := newAPIClient(registry)
		if err != nil {
			return nil, &usageError{cmd: cmd.CommandPath(), err: err}
		}
		return c, nil
	}
	cmd.AddCommand(newPolicyCreate(client), newPolicyList(client), newPolicyShow(client),
		newPolicyDelete(client), newPolicyRun(client))
	return cmd
}

type clientFunc func(*cobra.Command) (*apiClient, error)

func newPolicyCreate(client clientFunc) *cobra.Command {
	var (
		file, schedule string
		disabled       bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --file POLICY.yaml [--schedule 24h] [--disabled]",
		Short: "Create or replace a policy",
		Long: `Reads the rules from a YAML or JSON file ("-" for standard input), e.g.

  repositories: {include: ["team-a/.*"]}
  tags: {exclude: ["latest"]}
  keep: 5
  olderThan: 30d

and stores them under NAME, replacing a policy of that name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--file is required")}
			}
			pol, err := readPolicyFile(cmd, file)
			if err != nil {
				return err
			}
			if err := policy.Validate(args[0], schedule, pol); err != nil {
				return err
			}
			pol.Name = ""
			raw, err := json.Marshal(pol)
			if err != nil {
				return err
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			enabled := !disabled
			var got metadata.RetentionPolicy
			body := map[string]any{"policy": json.RawMessage(raw), "schedule": schedule, "enabled": enabled}
			if err := c.call(cmd.Context(), http.MethodPut, "policies/"+args[0], body, &got); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stored policy %s (%s)\n", got.Name, scheduleText(got))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy rules as YAML or JSON; - reads standard input")
	cmd.Flags().StringVar(&schedule, "schedule", "", "when to run: a 5-field cron expression in UTC ('0 3 * * *', 'CRON_TZ=Europe/Berlin 0 3 * * *') or an interval (24h, 1d, @every 6h, @hourly, @daily, @weekly); empty runs only on demand")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "store the policy without scheduling it")
	return cmd
}

// readPolicyFile decodes rules strictly from YAML, which JSON also is.
func readPolicyFile(cmd *cobra.Command, file string) (*retention.Policy, error) {
	var r io.Reader = cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading policy: %w", err)
		}
		defer f.Close()
		r = f
	}
	dec := yaml.NewDecoder(io.LimitReader(r, maxPolicyFile))
	dec.KnownFields(true)
	var p retention.Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", file, err)
	}
	return &p, nil
}

func scheduleText(p metadata.RetentionPolicy) string {
	switch {
	case !p.Enabled:
		return "disabled"
	case p.Schedule == "":
		return "on demand"
	}
	if sched, err := schedule.Parse(p.Schedule); err == nil && sched.IsCron() {
		return "cron " + p.Schedule
	}
	return "every " + p.Schedule
}

func newPolicyList(client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List policies", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Policies []metadata.RetentionPolicy `json:"policies"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "policies", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCHEDULE\tUPDATED\tBY\tPOLICY")
			for _, p := range out.Policies {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, scheduleText(p), p.Updated.UTC().Format(time.RFC3339), p.Actor, p.Policy)
			}
			return tw.Flush()
		},
	}
}

func newPolicyShow(client clientFunc) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use: "show NAME", Short: "Show a policy and its recent runs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var p metadata.RetentionPolicy
			if err := c.call(cmd.Context(), http.MethodGet, "policies/"+args[0], nil, &p); err != nil {
				return err
			}
			var runs struct {
				Runs []metadata.RetentionRun `json:"runs"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, fmt.Sprintf("policies/%s/runs?n=%d", args[0], n), nil, &runs); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name:     %s\nschedule: %s\nupdated:  %s by %s\npolicy:   %s\n\n", p.Name, scheduleText(p),
				p.Updated.UTC().Format(time.RFC3339), p.Actor, p.Policy)
			return writeRuns(w, runs.Runs)
		},
	}
	cmd.Flags().IntVarP(&n, "runs", "n", 10, "how many recent runs to show")
	return cmd
}

func writeRuns(w io.Writer, runs []metadata.RetentionRun) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tDURATION\tDRY RUN\tTAGS DELETED\tMANIFESTS DELETED\tSKIPPED\tFAILED\tFREED\tERROR")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Started.UTC().Format(time.RFC3339),
			r.Finished.Sub(r.Started).Round(time.Millisecond), r.DryRun, r.TagsDeleted, r.ManifestsDeleted,
			r.Skipped, r.Failed, retention.HumanBytes(r.BytesFreed), r.Error)
	}
	return tw.Flush()
}

func newPolicyDelete(client clientFunc) *cobra.Command {
	return newDeleteCommand(client, "delete NAME", "Delete a policy and its run history", "policy",
		func(name string) string { return "policies/" + name })
}

func newPolicyRun(client clientFunc) *cobra.Command {
	var (
		dryRun bool
		output string
	)
	cmd := &cobra.Command{
		Use: "run NAME [--dry-run] [--output table|json]", Short: "Run a policy now and print its plan", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output: want table or json, got %q", output)}
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var rep policy.Report
			path := fmt.Sprintf("policies/%s/run?dry_run=%t", args[0], dryRun)
			if err := c.call(cmd.Context(), http.MethodPost, path, nil, &rep); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			if rep.Plan != nil {
				if err := retention.WriteTable(w, rep.Plan); err != nil {
					return err
				}
			}
			r := rep.Run
			verb := "deleted"
			if r.DryRun {
				verb = "would delete"
			}
			fmt.Fprintf(w, "run %d: %s %d tags and %d manifests, %d skipped, %d failed, about %s freed\n",
				r.ID, verb, r.TagsDeleted, r.ManifestsDeleted, r.Skipped, r.Failed, retention.HumanBytes(r.BytesFreed))
			if r.Error != "" {
				return fmt.Errorf("policy %s: %s", args[0], r.Error)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}
