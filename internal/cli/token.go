package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
)

const tokenLong = `Manage scoped tokens: credentials for CI jobs and machines, each with its
own grants, optional expiry and client networks, and two passwords so that
one can be replaced while the other is still in use. Clients log in with
the user name token$<name> and either password.

The commands call the server's API (--registry) as the account in
BERTH_USERNAME and BERTH_PASSWORD. Any account may manage the tokens it
created, never with more rights than it has; administrators manage all.

Actions: pull, push, delete, metadata:read, metadata:write (the last two
on the pattern '*' give the management API's reads and writes).`

func newToken() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage scoped tokens for CI and machines: create, list, rotate, disable, enable, delete",
		Long:  tokenLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	registryFlag(cmd, &registry)
	cmd.AddCommand(newTokenCreate(&registry), newTokenList(&registry), newTokenRotate(&registry),
		newTokenSetDisabled(&registry, true), newTokenSetDisabled(&registry, false), newTokenDelete(&registry))
	return cmd
}

func newTokenCreate(registry *string) *cobra.Command {
	var (
		grants, cidrs []string
		expires       string
		output        string
	)
	cmd := &cobra.Command{
		Use:   "create NAME --grant PATTERN=ACTIONS...",
		Short: "Create a token; its two passwords are printed once",
		Example: `  berth token create ci-app --grant 'team/app*=pull,push' --expires 720h
  berth token create deploy --grant 'prod/*=pull' --cidr 10.1.0.0/16`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := manage.CreateRequest{Name: args[0], CIDRs: cidrs}
			for _, s := range grants {
				g, err := authz.ParseTokenGrant(s)
				if err != nil {
					return &usageError{cmd: cmd.CommandPath(), err: err}
				}
				req.Grants = append(req.Grants, g)
			}
			if len(req.Grants) == 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("give at least one --grant")}
			}
			if expires != "" {
				at, err := parseTokenExpiry(expires, time.Now())
				if err != nil {
					return &usageError{cmd: cmd.CommandPath(), err: err}
				}
				req.Expires = at.Format(time.RFC3339)
			}
			c, err := newAPIClient(*registry)
			if err != nil {
				return err
			}
			var out manage.Secrets
			if err := c.call(cmd.Context(), http.MethodPost, "tokens", req, &out); err != nil {
				return err
			}
			return printSecrets(cmd.OutOrStdout(), out, output)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&grants, "grant", nil, "PATTERN=ACTION[,ACTION] (repeatable), e.g. 'ci/*=pull,push'")
	fl.StringArrayVar(&cidrs, "cidr", nil, "client network the token may be used from (repeatable), e.g. 10.0.0.0/8")
	fl.StringVar(&expires, "expires", "", "expiry: a duration from now (720h) or an RFC 3339 time; default never")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// parseTokenExpiry reads a duration from now or an RFC 3339 time.
func parseTokenExpiry(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %s: want a positive duration", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration (720h) or an RFC 3339 time", s)
	}
	return t, nil
}

func printSecrets(w io.Writer, s manage.Secrets, output string) error {
	if output == "json" {
		return writeJSONTo(w, s)
	}
	fmt.Fprintf(w, "token %s (log in as %s)\n", s.Token.Name, s.Token.Login)
	if s.Password1 != "" {
		fmt.Fprintf(w, "password1: %s\n", s.Password1)
	}
	if s.Password2 != "" {
		fmt.Fprintf(w, "password2: %s\n", s.Password2)
	}
	fmt.Fprintln(w, "Store the password now: it is not shown again.")
	return nil
}

func newTokenList(registry *string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens you may manage, with their last use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(*registry)
			if err != nil {
				return err
			}
			var out struct {
				Tokens []manage.Token `json:"tokens"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "tokens", nil, &out); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), out.Tokens)
			}
			return writeTokenTable(cmd.OutOrStdout(), out.Tokens)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func writeTokenTable(w io.Writer, ts []manage.Token) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATOR\tGRANTS\tCIDRS\tEXPIRES\tLAST USED\tSTATE")
	for _, t := range ts {
		state := "enabled"
		if t.Disabled {
			state = "disabled"
		}
		if t.Expires != nil && !t.Expires.After(time.Now()) {
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Creator, grantsString(t.Grants),
			dash(strings.Join(t.CIDRs, ",")), timeOrDash(t.Expires), timeOrDash(t.LastUsed), state)
	}
	return tw.Flush()
}

func grantsString(gs []metadata.TokenGrant) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.Pattern + "=" + strings.Join(g.Actions, ",")
	}
	return strings.Join(parts, " ")
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newTokenRotate(registry *string) *cobra.Command {
	var (
		slot   int
		output string
	)
	cmd := &cobra.Command{
		Use:   "rotate NAME --password 1|2",
		Short: "Replace one of a token's two passwords; the other keeps working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if slot != 1 && slot != 2 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--password %d: want 1 or 2", slot)}
			}
			c, err := newAPIClient(*registry)
			if err != nil {
				return err
			}
			var out manage.Secrets
			if err := c.call(cmd.Context(), http.MethodPost, fmt.Sprintf("tokens/%s/rotate?slot=%d", url.PathEscape(args[0]), slot), nil, &out); err != nil {
				return err
			}
			return printSecrets(cmd.OutOrStdout(), out, output)
		},
	}
	cmd.Flags().IntVar(&slot, "password", 1, "which password to replace: 1 or 2")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newTokenSetDisabled(registry *string, disable bool) *cobra.Command {
	verb, short := "enable", "Enable a disabled token"
	if disable {
		verb, short = "disable", "Disable a token: its passwords and the registry tokens it obtains stop working"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(*registry)
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), http.MethodPost, "tokens/"+url.PathEscape(args[0])+"/"+verb, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s %sd\n", args[0], verb)
			return nil
		},
	}
}

func newTokenDelete(registry *string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(*registry)
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), http.MethodDelete, "tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", args[0])
			return nil
		},
	}
}

func newKeys() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate and remove the server's token signing keys",
		Long: `The server signs registry and refresh tokens with Ed25519 keys kept in
<data_dir>/keys. Rotating makes a new key the signing key; older keys keep
verifying the tokens they signed (the JWT header's kid names the key) until
removed. Remove an old key once the tokens it signed have expired: access
tokens live auth.token_ttl, refresh tokens auth.refresh_token_ttl.
An administrator's credentials are needed (BERTH_USERNAME, BERTH_PASSWORD).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	registryFlag(cmd, &registry)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys, the signing key first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return err
			}
			var out manage.KeyList
			if err := c.call(cmd.Context(), http.MethodGet, "keys", nil, &out); err != nil {
				return err
			}
			return writeKeyTable(cmd.OutOrStdout(), out.Keys)
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Generate a new signing key; the old ones keep verifying",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return err
			}
			var k token.KeyInfo
			if err := c.call(cmd.Context(), http.MethodPost, "keys/rotate", nil, &k); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signing key is now %s\n", k.ID)
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove KID",
		Short: "Remove a key that no longer signs; tokens it signed stop verifying",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), http.MethodDelete, "keys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, rotate, remove)
	return cmd
}

func writeKeyTable(w io.Writer, ks []token.KeyInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tSIGNING")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", k.ID, k.Created.UTC().Format(time.RFC3339), k.Signing)
	}
	return tw.Flush()
}
