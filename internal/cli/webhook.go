package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/metadata"
)

func newWebhook() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhook subscriptions of a Berth server",
		Long: `Webhooks POST signed CloudEvents to an HTTP endpoint on pushes, deletions,
scans, quarantines, quota warnings, retention runs and (optionally) pulls.
Each delivery carries Berth-Signature: t=<unix>,v1=<HMAC-SHA256 of "t.body">
under the subscription's secret; failed deliveries are retried with
backoff. Targets on loopback, private or link-local addresses are refused
unless the server's webhooks.allow_cidrs lets them through. With
authentication on, the server asks for an administrator. See
docs/webhooks.md.`,
	}
	registryFlag(cmd, &registry)
	client := func(cmd *cobra.Command) (*apiClient, error) {
		c, err := newAPIClient(registry)
		if err != nil {
			return nil, &usageError{cmd: cmd.CommandPath(), err: err}
		}
		return c, nil
	}
	cmd.AddCommand(newWebhookCreate(client), newWebhookList(client), newWebhookDelete(client),
		newWebhookPing(client), newWebhookDeliveries(client))
	return cmd
}

// webhookCreated is the server's answer to a create: the secret comes once.
type webhookCreated struct {
	metadata.Webhook
	Secret string `json:"secret"`
}

func newWebhookCreate(client clientFunc) *cobra.Command {
	var (
		url, secret, repoRegex, tagRegex string
		events                           []string
		pulls, disabled                  bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --url URL [--event push ...] [--repo-regex RE] [--tag-regex RE]",
		Short: "Create a subscription and print its secret (shown once)",
		Example: `  berth webhook create ci --url https://ci.example/hooks/berth --event push --repo-regex 'team/.*'
  berth webhook create sec --url https://sec.example/in --event scan --event quarantine`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if url == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--url is required")}
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			enabled := !disabled
			body := map[string]any{"name": args[0], "url": url, "secret": secret, "events": events,
				"repositoryRegex": repoRegex, "tagRegex": tagRegex, "includePulls": pulls, "enabled": enabled}
			var got webhookCreated
			if err := c.call(cmd.Context(), http.MethodPost, "webhooks", body, &got); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "created webhook %s -> %s (%s)\n", got.Name, got.URL, eventsText(got.Webhook))
			fmt.Fprintf(w, "secret: %s\n(shown once: store it where the receiver verifies signatures)\n", got.Secret)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "http or https endpoint the events are POSTed to")
	fl.StringVar(&secret, "secret", "", "signing secret, 16 to 256 bytes (default: generated)")
	fl.StringSliceVar(&events, "event", nil, "event type, repeatable: push, delete, pull, scan, quarantine, quota, retention, a type such as tag.deleted, a prefix such as scan.*, or * (default: all but pulls)")
	fl.StringVar(&repoRegex, "repo-regex", "", "only repositories matching this regular expression (whole name)")
	fl.StringVar(&tagRegex, "tag-regex", "", "only tags matching this regular expression (whole tag)")
	fl.BoolVar(&pulls, "include-pulls", false, "also deliver pulls (best effort, at most one per manifest a second)")
	fl.BoolVar(&disabled, "disabled", false, "store the subscription without delivering to it")
	return cmd
}

func eventsText(w metadata.Webhook) string {
	s := "all events"
	if len(w.Events) > 0 {
		s = strings.Join(w.Events, ",")
	}
	if w.IncludePulls {
		s += " + pulls"
	}
	if w.RepoRegex != "" {
		s += " in " + w.RepoRegex
	}
	if w.TagRegex != "" {
		s += " tagged " + w.TagRegex
	}
	if !w.Enabled {
		s += ", disabled"
	}
	return s
}

func newWebhookList(client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List subscriptions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Webhooks []metadata.Webhook `json:"webhooks"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "webhooks", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tURL\tEVENTS\tUPDATED\tBY")
			for _, w := range out.Webhooks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.Name, w.URL, eventsText(w), w.Updated.UTC().Format(time.RFC3339), dash(w.Actor))
			}
			return tw.Flush()
		},
	}
}

func newWebhookDelete(client clientFunc) *cobra.Command {
	return newDeleteCommand(client, "delete NAME", "Delete a subscription and its delivery log", "webhook",
		func(name string) string { return "webhooks/" + name })
}

func newWebhookPing(client clientFunc) *cobra.Command {
	return &cobra.Command{
		Use: "ping NAME", Short: "Send a ping event now and report the receiver's answer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var d metadata.WebhookDelivery
			if err := c.call(cmd.Context(), http.MethodPost, "webhooks/"+args[0]+"/ping", nil, &d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ping %s: %s, status %d in %s\n", args[0], d.State, d.StatusCode, d.Duration.Round(time.Millisecond))
			if d.State != metadata.DeliveryDelivered {
				return fmt.Errorf("webhook %s: %s", args[0], d.Error)
			}
			return nil
		},
	}
}

func newWebhookDeliveries(client clientFunc) *cobra.Command {
	var (
		n      int
		output string
	)
	cmd := &cobra.Command{
		Use: "deliveries NAME", Short: "Show the delivery log of a subscription, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", output)}
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Deliveries []metadata.WebhookDelivery `json:"deliveries"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, fmt.Sprintf("webhooks/%s/deliveries?n=%d", args[0], n), nil, &out); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), out.Deliveries)
			}
			return writeDeliveries(cmd.OutOrStdout(), out.Deliveries)
		},
	}
	cmd.Flags().IntVarP(&n, "limit", "n", 20, "at most this many deliveries")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func writeDeliveries(w io.Writer, ds []metadata.WebhookDelivery) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tEVENT\tSTATE\tATTEMPTS\tSTATUS\tDURATION\tNEXT\tERROR")
	for _, d := range ds {
		next := "-"
		if !d.NextTry.IsZero() {
			next = d.NextTry.UTC().Format(time.RFC3339)
		}
		status := "-"
		if d.StatusCode != 0 {
			status = fmt.Sprint(d.StatusCode)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Created.UTC().Format(time.RFC3339), d.EventType, d.State,
			d.Attempts, status, d.Duration.Round(time.Millisecond), next, dash(d.Error))
	}
	return tw.Flush()
}
