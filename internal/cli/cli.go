// Package cli is the berth command line: cobra commands that parse flags
// and call the packages that do the work. Run is the whole program, minus
// signal handling, so tests drive it exactly as a user would.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is stamped at build time:
//
//	go build -ldflags "-X github.com/berth-registry/berth/internal/cli.version=v1.2.3" ./cmd/berth
var version = "dev"

// Exit codes of Run.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// env reads the environment; tests pass a map instead of the process's.
type env func(string) (string, bool)

// Run runs berth with args (without the program name) and returns the exit
// code. ctx ends long-running commands such as serve.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup env) int {
	root := newRoot(stdout, stderr, lookup)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// A command that asks for a particular exit code (the scan gate's
	// --exit-code) has already said what it found; it is not a failure to
	// report as one.
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		fmt.Fprintf(stderr, "berth: %s\n", err)
		return coded.ExitCode()
	}
	// Print every line of a joined error with the prefix, so that each
	// configuration problem reads as its own message.
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "berth: %s\n", line)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmd)
		return ExitUsage
	}
	// cobra reports stray arguments with a plain error; its text is the
	// only thing that tells them apart.
	if strings.HasPrefix(err.Error(), "unknown command") {
		return ExitUsage
	}
	return ExitError
}

// usageError marks a mistake in the command line itself.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

const rootLong = `Berth is a self-hosted OCI container registry in one binary. Push and pull
images and artifacts with docker, podman, oras, helm or any OCI client;
Berth keeps blobs on the local disk and metadata in an embedded database,
with no other service to run.

Get started:
  berth serve                                start a registry on 127.0.0.1:5000,
                                             data under ./berth-data
  docker tag alpine 127.0.0.1:5000/alpine    name an image for it
  docker push 127.0.0.1:5000/alpine          push it
  curl 127.0.0.1:5000/api/v1/repositories    see what the registry holds

Configuration comes from flags, BERTH_* environment variables and a YAML
file (berth serve --config berth.yaml), in that order of precedence; see
docs/configuration.md.`

func newRoot(stdout, stderr io.Writer, lookup env) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "A self-hosted OCI container registry",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		// With no subcommand, berth explains itself instead of doing nothing.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("unknown command %q", args[0])}
			}
			return cmd.Help()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newServe(lookup), newVersion(), newPurge(), newUser(lookup))
	root.AddCommand(newTrash(), newLock(), newPolicy())
	root.AddCommand(newGC(lookup), newUsage(lookup))
	root.AddCommand(newScan(), newVulndb(), newRescan(), newAudit(), newGate())
	root.AddCommand(newToken(), newKeys(), newLogin())
	root.AddCommand(newNetwork(), newWebhook())
	root.AddCommand(newRepos(), newTags(), newCopy(), newImport())
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	return root
}
