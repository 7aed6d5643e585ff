package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/scan/vulndb/artifact"
)

func newVulndbPush() *cobra.Command {
	var insecure bool
	cmd := &cobra.Command{
		Use:   "push REF PATH...",
		Short: "Publish OSV advisories as an OCI artifact",
		Long: `Publish OSV sources (osv.dev zips or directories of OSV JSON, each
packed into a zip) as one OCI artifact, one layer per source, with
artifactType ` + artifact.ArtifactType + `. Any OCI 1.1 registry holds it, Berth
included; an air-gapped site mirrors the one artifact and points scan.db at
oci://REF, or runs berth vulndb import oci://REF.

Credentials are looked up as for berth purge: BERTH_<HOST>_USERNAME and
_PASSWORD, BERTH_USERNAME and BERTH_PASSWORD, the Docker config file.`,
		Example: `  berth vulndb push registry.example/security/osv:2026-11-23 ./Debian-all.zip ./Alpine-all.zip ./osv/go`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("want REF and at least one PATH")}
			}
			return runVulndbPush(cmd.Context(), cmd, args[0], args[1:], insecure)
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP to a registry that is not loopback")
	return cmd
}

func runVulndbPush(ctx context.Context, cmd *cobra.Command, ref string, paths []string, insecure bool) error {
	t, err := artifact.Open(ctx, ref, artifact.Options{Insecure: insecure})
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "berth-vulndb-push-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		// A directory travels as a zip named after it.
		zp := filepath.Join(tmp, filepath.Base(filepath.Clean(p))+".zip")
		f, err := os.Create(zp)
		if err != nil {
			return err
		}
		_, err = vulndb.PackZip(ctx, f, []string{p}, vulndb.Limits{})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		files = append(files, zp)
	}
	// What is published must load: an empty or unreadable database would
	// make every scan downstream report nothing.
	if _, err := loadVulnDB(ctx, files); err != nil {
		return err
	}
	d, err := artifact.Push(ctx, t, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Pushed %s@%s (%d layers)\n", t.Repo, d, len(files))
	return nil
}

func newVulndbPull() *cobra.Command {
	var (
		insecure bool
		dir      string
	)
	cmd := &cobra.Command{
		Use:   "pull REF --output DIR",
		Short: "Fetch a vulnerability database artifact into a directory",
		Long: `Fetch the layers of an artifact published with berth vulndb push (or the
Trivy database, ghcr.io/aquasecurity/trivy-db:2) into DIR, one file per
layer. The files are what berth scan --db and scan.db take.`,
		Example: `  berth vulndb pull registry.example/security/osv:latest --output ./osv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || dir == "" {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("want one REF and --output DIR")}
			}
			files, d, err := pullVulnDBDigest(cmd.Context(), args[0], dir, insecure)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pulled %s (%s):\n", args[0], d)
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", f)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "directory to write the layers to (required)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP to a registry that is not loopback")
	return cmd
}

func pullVulnDB(ctx context.Context, ref, dir string, insecure bool) ([]string, error) {
	files, _, err := pullVulnDBDigest(ctx, ref, dir, insecure)
	return files, err
}

func pullVulnDBDigest(ctx context.Context, ref, dir string, insecure bool) ([]string, string, error) {
	t, err := artifact.Open(ctx, ref, artifact.Options{Insecure: insecure})
	if err != nil {
		return nil, "", err
	}
	files, d, err := artifact.Pull(ctx, t, dir)
	if err != nil {
		return nil, "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	return files, d.String(), nil
}
