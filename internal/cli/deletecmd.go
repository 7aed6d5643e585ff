package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// newDeleteCommand is the "delete NAME" verb the management commands share:
// one DELETE to the path the argument names, then "deleted <kind> <arg>".
func newDeleteCommand(client clientFunc, use, short, kind string, path func(arg string) string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), http.MethodDelete, path(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", kind, args[0])
			return nil
		},
	}
}
