package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

const userLong = `Manage the accounts of a Berth server. The commands work on the server's
metadata database directly (--data-dir or --config, as for berth serve), so
they run on the server's host, with or without the server running.

Roles are granted per repository pattern, where '*' matches anything,
slashes included:
  reader   pull
  writer   pull, push
  admin    pull, push, delete; with the pattern '*' also the catalog
           and the management API`

// userOpts locate the database, as berth serve would.
type userOpts struct {
	configFile string
	dataDir    string
	lookup     env
}

func (o *userOpts) open(ctx context.Context) (*sqlite.Store, error) {
	flags := map[string]string{}
	if o.dataDir != "" {
		flags["data_dir"] = o.dataDir
	}
	cfg, err := config.Build(config.Sources{File: o.configFile, Env: o.lookup, Flags: flags})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.DataDir); err != nil && cfg.Metadata.Path == "" {
		return nil, fmt.Errorf("data directory %s: %w (give --data-dir or --config as for berth serve)", cfg.DataDir, err)
	}
	return sqlite.Open(ctx, cfg.MetadataPath(), sqlite.Options{})
}

func newUser(lookup env) *cobra.Command {
	o := &userOpts{lookup: lookup}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage user accounts: add, list, disable, enable, passwd, grant",
		Long:  userLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.configFile, "config", "", "YAML configuration file of the server")
	pf.StringVar(&o.dataDir, "data-dir", "", "the server's data directory (default ./berth-data, or data_dir of --config)")
	cmd.AddCommand(newUserAdd(o), newUserList(o), newUserSetDisabled(o, true), newUserSetDisabled(o, false),
		newUserPasswd(o), newUserGrant(o))
	return cmd
}

// passwordSource reads a new password from a file or stdin, or generates
// one and says so.
type passwordSource struct {
	file  string
	stdin bool
}

func (p *passwordSource) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.file, "password-file", "", "read the password from the first line of this file")
	cmd.Flags().BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of stdin")
}

// get returns the password and whether it was generated.
func (p *passwordSource) get(cmd *cobra.Command) (string, bool, error) {
	var r io.Reader
	switch {
	case p.file != "" && p.stdin:
		return "", false, &usageError{cmd: cmd.CommandPath(), err: errors.New("--password-file and --password-stdin exclude each other")}
	case p.file != "":
		f, err := os.Open(p.file)
		if err != nil {
			return "", false, fmt.Errorf("reading password: %w", err)
		}
		defer f.Close()
		r = f
	case p.stdin:
		r = cmd.InOrStdin()
	default:
		pw, err := authn.GeneratePassword()
		return pw, true, err
	}
	line, err := bufio.NewReader(io.LimitReader(r, authn.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("reading password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := authn.CheckPassword(pw); err != nil {
		return "", false, err
	}
	return pw, false, nil
}

func parseGrants(cmd *cobra.Command, specs []string) ([]metadata.Grant, error) {
	gs := []metadata.Grant{}
	for _, s := range specs {
		g, err := authz.ParseGrant(s)
		if err != nil {
			return nil, &usageError{cmd: cmd.CommandPath(), err: err}
		}
		gs = append(gs, g)
	}
	return gs, nil
}

func validUserName(cmd *cobra.Command, name string) error {
	if err := authn.ValidUserName(name); err != nil {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	}
	return nil
}

func newUserAdd(o *userOpts) *cobra.Command {
	var pw passwordSource
	var grants []string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account; without a password option one is generated and printed",
		Example: `  berth user add alice --grant 'team/*=writer' --password-stdin < pw.txt
  berth user add ci --grant 'apps/*=writer' --grant 'base/*=reader'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validUserName(cmd, args[0]); err != nil {
				return err
			}
			gs, err := parseGrants(cmd, grants)
			if err != nil {
				return err
			}
			pass, generated, err := pw.get(cmd)
			if err != nil {
				return err
			}
			hash, err := authn.HashPassword(pass)
			if err != nil {
				return err
			}
			db, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.CreateUser(cmd.Context(), &metadata.User{Name: args[0], PasswordHash: hash, Grants: gs}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s\n", args[0])
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", pass)
			}
			return nil
		},
	}
	pw.flags(cmd)
	cmd.Flags().StringArrayVar(&grants, "grant", nil, "grant a role on a repository pattern, pattern=role (repeatable)")
	return cmd
}

func newUserList(o *userOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List accounts with their state and grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := o.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			users, err := db.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tGRANTS")
			for _, u := range users {
				state := "enabled"
				if u.Disabled {
					state = "disabled"
				}
				var gs []string
				for _, g := range u.Grants {
					gs = append(gs, g.Pattern+"="+g.Role)
				}
				if len(gs) == 0 {
					gs = []string{"-"}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, state, u.Created.Format(time.DateOnly), strings.Join(gs, ","))
			}
			return tw.Flush()
		},
	}
}

// updateUser reads, changes and writes back one account.
func updateUser(cmd *cobra.Command, o *userOpts, name string, change func(*metadata.User) error) error {
	db, err := o.open(cmd.Context())
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.User(cmd.Context(), name)
	if err != nil {
		return err
	}
	if err := change(u); err != nil {
		return err
	}
	return db.UpdateUser(cmd.Context(), u)
}

func newUserSetDisabled(o *userOpts, disabled bool) *cobra.Command {
	use, short, done := "enable NAME", "Allow an account to log in again", "enabled"
	if disabled {
		use, short, done = "disable NAME", "Stop an account from logging in (its tokens expire within minutes)", "disabled"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := updateUser(cmd, o, args[0], func(u *metadata.User) error { u.Disabled = disabled; return nil })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s user %s\n", done, args[0])
			return nil
		},
	}
}

func newUserPasswd(o *userOpts) *cobra.Command {
	var pw passwordSource
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an account's password; without a password option one is generated and printed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pass, generated, err := pw.get(cmd)
			if err != nil {
				return err
			}
			hash, err := authn.HashPassword(pass)
			if err != nil {
				return err
			}
			if err := updateUser(cmd, o, args[0], func(u *metadata.User) error { u.PasswordHash = hash; return nil }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "changed the password of %s\n", args[0])
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", pass)
			}
			return nil
		},
	}
	pw.flags(cmd)
	return cmd
}

func newUserGrant(o *userOpts) *cobra.Command {
	var revoke bool
	cmd := &cobra.Command{
		Use:     "grant NAME PATTERN=ROLE...",
		Short:   "Add role grants to an account (or remove them with --revoke)",
		Example: `  berth user grant alice 'team/*=writer' 'base/*=reader'`,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			gs, err := parseGrants(cmd, args[1:])
			if err != nil {
				return err
			}
			err = updateUser(cmd, o, args[0], func(u *metadata.User) error {
				for _, g := range gs {
					i := indexGrant(u.Grants, g)
					switch {
					case revoke && i >= 0:
						u.Grants = append(u.Grants[:i], u.Grants[i+1:]...)
					case !revoke && i < 0:
						u.Grants = append(u.Grants, g)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated the grants of %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&revoke, "revoke", false, "remove the grants instead of adding them")
	return cmd
}

func indexGrant(gs []metadata.Grant, g metadata.Grant) int {
	for i, x := range gs {
		if x == g {
			return i
		}
	}
	return -1
}
