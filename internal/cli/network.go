package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/api"
)

// networkFlags are shared by every `berth network` verb.
type networkFlags struct {
	registry, output string
	force            bool
}

func newNetwork() *cobra.Command {
	var f networkFlags
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Show and change the network rules of a running Berth server",
		Long: `Network rules admit or refuse clients by address before any credential is
read. Rules set here are stored in the server's metadata database and
replace the configuration file's network.* rules, across restarts, until
'berth network reset'. Every change is audited.

A change that would refuse the address you are calling from is refused,
so you cannot lock yourself out by accident; --force applies it anyway.
With authentication on, the server asks for an administrator
(BERTH_USERNAME, BERTH_PASSWORD). See docs/access.md.`,
		Example: `  berth network show
  berth network set --default deny --allow 10.0.0.0/8 --allow 192.0.2.10 --deny 10.66.0.0/16
  berth network allow 203.0.113.0/24
  berth network deny 10.66.1.7
  berth network remove 203.0.113.0/24
  berth network default deny
  berth network reset`,
		Args: cobra.NoArgs,
	}
	registryFlag(cmd, &f.registry)
	cmd.PersistentFlags().BoolVar(&f.force, "force", false, "apply even if the rules would refuse your own address")

	show := &cobra.Command{
		Use: "show", Short: "Show the rules in force and where they come from", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "table" && f.output != "json" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--output %q: want table or json", f.output)}
			}
			set, err := f.get(cmd.Context())
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), set)
			}
			return writeNetworkRules(cmd.OutOrStdout(), set)
		},
	}
	show.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")

	var spec netrule.Spec
	set := &cobra.Command{
		Use:   "set",
		Short: "Replace the whole rule set",
		Long:  "Replace the whole rule set: lists not given are emptied.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.put(cmd, spec)
		},
	}
	set.Flags().StringVar(&spec.DefaultAction, "default", "allow", "allow or deny clients in neither list")
	set.Flags().StringArrayVar(&spec.Allow, "allow", nil, "CIDR prefix or address to admit (repeatable)")
	set.Flags().StringArrayVar(&spec.Deny, "deny", nil, "CIDR prefix or address to refuse (repeatable)")
	set.Flags().StringArrayVar(&spec.TrustedProxies, "trusted-proxy", nil, "proxy whose forwarding headers are believed (repeatable)")

	edit := func(use, short string, args cobra.PositionalArgs, change func(*netrule.Spec, []string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				cur, err := f.get(cmd.Context())
				if err != nil {
					return err
				}
				s := cur.Rules
				if err := change(&s, args); err != nil {
					return &usageError{cmd: cmd.CommandPath(), err: err}
				}
				return f.put(cmd, s)
			},
		}
	}
	allow := edit("allow CIDR...", "Admit addresses (and stop denying them)", cobra.MinimumNArgs(1), func(s *netrule.Spec, args []string) error {
		s.Deny = without(s.Deny, args)
		s.Allow = with(s.Allow, args)
		return nil
	})
	deny := edit("deny CIDR...", "Refuse addresses (and stop admitting them)", cobra.MinimumNArgs(1), func(s *netrule.Spec, args []string) error {
		s.Allow = without(s.Allow, args)
		s.Deny = with(s.Deny, args)
		return nil
	})
	remove := edit("remove CIDR...", "Drop addresses from the allow and deny lists", cobra.MinimumNArgs(1), func(s *netrule.Spec, args []string) error {
		n := len(s.Allow) + len(s.Deny)
		s.Allow, s.Deny = without(s.Allow, args), without(s.Deny, args)
		if len(s.Allow)+len(s.Deny) == n {
			return fmt.Errorf("%s: in neither list", strings.Join(args, ", "))
		}
		return nil
	})
	def := edit("default allow|deny", "Set what happens to clients in neither list", cobra.ExactArgs(1), func(s *netrule.Spec, args []string) error {
		a, err := netrule.ParseAction(args[0])
		if err != nil || args[0] == "" {
			return fmt.Errorf("default %q: want allow or deny", args[0])
		}
		s.DefaultAction = a.String()
		return nil
	})
	reset := &cobra.Command{
		Use: "reset", Short: "Drop the stored rules: the configuration file's apply again", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out api.NetworkRuleSet
			if err := f.call(cmd.Context(), http.MethodDelete, nil, &out); err != nil {
				return err
			}
			return writeNetworkRules(cmd.OutOrStdout(), out)
		},
	}
	cmd.AddCommand(show, set, allow, deny, remove, def, reset)
	return cmd
}

func (f *networkFlags) call(ctx context.Context, method string, in, out any) error {
	c, err := newAPIClient(f.registry)
	if err != nil {
		return err
	}
	path := "network-rules"
	if f.force {
		path += "?force=true"
	}
	return c.call(ctx, method, path, in, out)
}

func (f *networkFlags) get(ctx context.Context) (api.NetworkRuleSet, error) {
	var set api.NetworkRuleSet
	err := f.call(ctx, http.MethodGet, nil, &set)
	return set, err
}

func (f *networkFlags) put(cmd *cobra.Command, s netrule.Spec) error {
	var out api.NetworkRuleSet
	if err := f.call(cmd.Context(), http.MethodPut, s, &out); err != nil {
		return err
	}
	return writeNetworkRules(cmd.OutOrStdout(), out)
}

// with appends the entries of add not already in list.
func with(list, add []string) []string {
	for _, a := range add {
		if !slices.Contains(list, canonical(a)) {
			list = append(list, canonical(a))
		}
	}
	return list
}

// without drops the entries of drop from list, compared as the server
// writes them (10.0.0.1 is 10.0.0.1/32).
func without(list, drop []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(e string) bool {
		return slices.ContainsFunc(drop, func(d string) bool { return canonical(d) == e })
	})
}

// canonical is an entry as the server stores it; a bad entry is left for
// the server to explain.
func canonical(e string) string {
	if p, err := netrule.ParsePrefix(e); err == nil {
		return p.String()
	}
	return e
}

func writeNetworkRules(w io.Writer, set api.NetworkRuleSet) error {
	src := "configuration file"
	if set.Source == "api" {
		src = "stored"
		if set.Updated != nil {
			src += " " + set.Updated.UTC().Format(time.RFC3339)
		}
		if set.UpdatedBy != "" {
			src += " by " + set.UpdatedBy
		}
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, ", ")
	}
	_, err := fmt.Fprintf(w, "source:          %s\ndefault:         %s\nallow:           %s\ndeny:            %s\ntrusted proxies: %s\n",
		src, set.Rules.DefaultAction, list(set.Rules.Allow), list(set.Rules.Deny), list(set.Rules.TrustedProxies))
	return err
}
