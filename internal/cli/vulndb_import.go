package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

const vulndbImportLong = `Import OSV advisories: directories of OSV JSON, osv.dev zips (all.zip) or
artifacts published with berth vulndb push (oci://REGISTRY/REPO:TAG).

With --registry, each source is sent to a running Berth server, which
stores it in its data directory (a zip replaces the earlier one of the same
name), loads the database with it, swaps it in atomically and re-matches
every stored inventory. A source that does not load leaves the server's
database as it was. Admin only. With --on-server, the paths are read by the
server from its own file system instead of being uploaded.

With --output, the sources are combined offline into one zip file: a
database file to copy to an air-gapped site, give to berth scan --db, to
scan.db, or to berth vulndb push.`

type vulndbImportFlags struct {
	registry string
	output   string
	onServer bool
	insecure bool
	out      io.Writer
}

func newVulndbImport() *cobra.Command {
	var f vulndbImportFlags
	cmd := &cobra.Command{
		Use:   "import PATH... (--registry URL | --output FILE)",
		Short: "Import OSV advisories into a server's database, or build a database file",
		Long:  vulndbImportLong,
		Example: `  berth vulndb import ./Debian-all.zip ./osv/go --registry http://127.0.0.1:5000
  berth vulndb import oci://registry.example/security/osv:latest --registry http://127.0.0.1:5000
  berth vulndb import ./Debian-all.zip ./Alpine-all.zip --output osv.zip`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("want at least one PATH")}
			}
			if (f.registry == "") == (f.output == "") {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("want exactly one of --registry and --output")}
			}
			f.out = cmd.OutOrStdout()
			if f.output != "" {
				return runVulndbBuild(cmd.Context(), args, f)
			}
			return runVulndbUpload(cmd.Context(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.registry, "registry", "", "the Berth server to import into, e.g. http://127.0.0.1:5000")
	fl.StringVarP(&f.output, "output", "o", "", "write one combined zip here instead")
	fl.BoolVar(&f.onServer, "on-server", false, "with --registry: the paths are on the server's file system")
	fl.BoolVar(&f.insecure, "insecure", false, "plain HTTP to oci:// registries that are not loopback")
	return cmd
}

// runVulndbBuild packs the sources into one zip, written next to the output
// and renamed into place, then imports it to check and describe it.
func runVulndbBuild(ctx context.Context, args []string, f vulndbImportFlags) error {
	paths, cleanup, err := localSources(ctx, args, f.insecure)
	if err != nil {
		return err
	}
	defer cleanup()
	tmp, err := os.CreateTemp(filepath.Dir(f.output), ".berth-vulndb-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := vulndb.PackZip(ctx, tmp, paths, vulndb.Limits{})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	db, err := scanner.LoadDB(ctx, []string{tmp.Name()})
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.output); err != nil {
		return err
	}
	fmt.Fprintf(f.out, "Wrote %s: %d entries, %d advisories, version %s\n", f.output, n, db.Len(), db.Version())
	return nil
}

// localSources turns oci:// arguments into the zips they hold, pulled into
// a temporary directory that cleanup removes.
func localSources(ctx context.Context, args []string, insecure bool) ([]string, func(), error) {
	var paths, tmps []string
	cleanup := func() {
		for _, d := range tmps {
			os.RemoveAll(d)
		}
	}
	for _, a := range args {
		ref, ok := strings.CutPrefix(a, "oci://")
		if !ok {
			paths = append(paths, a)
			continue
		}
		dir, err := os.MkdirTemp("", "berth-vulndb-pull-")
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		tmps = append(tmps, dir)
		got, err := pullVulnDB(ctx, ref, dir, insecure)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		paths = append(paths, got...)
	}
	return paths, cleanup, nil
}

// runVulndbUpload sends each source to the server, one reload per source.
func runVulndbUpload(ctx context.Context, args []string, f vulndbImportFlags) error {
	c, err := newAPIClient(f.registry)
	if err != nil {
		return err
	}
	// A large zip and the re-match that follows take longer than the
	// client's default timeout; the context bounds the call.
	c.http.Timeout = 0
	for _, a := range args {
		var res scanner.ReloadResult
		if f.onServer || strings.HasPrefix(a, "oci://") {
			err = c.call(ctx, http.MethodPost, "vulndb/import", map[string]string{"source": a}, &res)
		} else {
			err = uploadVulnDB(ctx, c, a, &res)
		}
		if err != nil {
			return fmt.Errorf("importing %s: %w", a, err)
		}
		changed := "unchanged"
		if res.Changed {
			changed = fmt.Sprintf("swapped in; re-matching %d stored inventories in the background: berth vulndb status --registry URL", res.Rematch.Total)
		}
		fmt.Fprintf(f.out, "%s: version %s, %d advisories (%s)\n", a, res.Status.Version, res.Status.Advisories, changed)
	}
	return nil
}

// uploadVulnDB sends a zip as it is, or a directory packed into one on the
// fly, named after the path.
func uploadVulnDB(ctx context.Context, c *apiClient, path string, res *scanner.ReloadResult) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	name := filepath.Base(filepath.Clean(path))
	var body io.Reader
	if fi.IsDir() {
		name += ".zip"
		pr, pw := io.Pipe()
		defer pr.Close()
		go func() {
			_, err := vulndb.PackZip(ctx, pw, []string{path}, vulndb.Limits{})
			pw.CloseWithError(err)
		}()
		body = pr
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		body = fh
	}
	return c.call(ctx, http.MethodPost, "vulndb/import?name="+url.QueryEscape(name), body, res)
}
