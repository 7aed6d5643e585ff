package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/importer"
	"github.com/berth-registry/berth/internal/server"
)

const serveLong = `Start the registry: the OCI Distribution API under /v2/, the management
API under /api/v1/, /healthz, /readyz and Prometheus metrics at /metrics.

With no flags, berth serve listens on 127.0.0.1:5000 and keeps its data
under ./berth-data. Every flag below can also be set with the environment
variable shown, or in the YAML file given to --config; flags win over the
environment, which wins over the file. The server stops gracefully on
SIGINT or SIGTERM.`

func newServe(lookup env) *cobra.Command {
	var configFile string
	var allowAnonymous bool
	values := map[string]*keyValue{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry server",
		Long:  serveLong,
		Example: `  berth serve
  berth serve --listen 0.0.0.0:5000 --data-dir /var/lib/berth
  berth serve --tls-cert cert.pem --tls-key key.pem
  BERTH_LOG_FORMAT=json berth serve --config /etc/berth/berth.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := map[string]string{}
			for name, v := range values {
				if v.set {
					flags[name] = v.s
				}
			}
			if allowAnonymous {
				flags["auth.allow_anonymous"] = "true"
			}
			cfg, err := config.Build(config.Sources{File: configFile, Env: lookup, Flags: flags})
			if err != nil {
				return err
			}
			return serve(cmd, cfg)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&configFile, "config", "", "YAML configuration file")
	fs.BoolVar(&allowAnonymous, "allow-anonymous", false, "serve a non-loopback address without authentication (same as --auth-allow-anonymous)")
	for _, k := range config.Keys() {
		v := &keyValue{s: k.Default(), typ: k.Type}
		values[k.Name] = v
		f := fs.VarPF(v, k.Flag(), "", k.Usage+" (env "+k.Env()+")")
		if k.Type == "bool" {
			f.NoOptDefVal = "true"
		}
	}
	return cmd
}

func serve(cmd *cobra.Command, cfg config.Config) error {
	log := newLogger(cmd.ErrOrStderr(), cfg.Log)
	srv := server.New(cfg, log).WithImporter(importer.New)
	ctx := cmd.Context()
	if err := srv.Open(ctx); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Berth registry listening on %s (blobs in %s, metadata in %s)\n",
		srv.URL(), cfg.StorageDir(), cfg.MetadataPath())
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newLogger builds the server's logger; cfg was validated.
func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// keyValue is a flag that keeps its text: parsing and validation belong to
// package config, which reports errors with the key's name.
type keyValue struct {
	s   string
	typ string
	set bool
}

func (v *keyValue) String() string { return v.s }
func (v *keyValue) Type() string   { return v.typ }

func (v *keyValue) Set(s string) error {
	v.s, v.set = s, true
	return nil
}
