package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/fleet"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
)

type copyFlags struct {
	platforms   []string
	referrers   bool
	allTags     bool
	concurrency int
	srcCreds    string
	dstCreds    string
}

func newCopy() *cobra.Command {
	var f copyFlags
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an image, or a whole repository, between any two registries",
		Long: `Copies an image from one registry to another (Berth, ACR, any OCI
registry), every platform of an index, keeping every manifest byte for
byte so that digests are the same on both sides.

SRC is REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST (with
--all-tags, REGISTRY/REPOSITORY); DST is REGISTRY/REPOSITORY[:TAG], the
source's tag when none is given. REGISTRY is a URL (http://127.0.0.1:5000)
or a host (myreg.azurecr.io, which means https).

Blobs are streamed, never held whole; those the destination has are
skipped after a HEAD, so an interrupted copy is finished by running it
again. Within one registry, blobs are mounted across repositories instead
of copied. --referrers also copies signatures, attestations and SBOMs:
from the referrers API, else from the sha256-<digest> fallback tags, and
writes them the way the destination keeps them.

Credentials: --src-creds and --dest-creds (USER:PASSWORD), else the
lookup of docs/fleet.md per host (BERTH_<HOST>_USERNAME/PASSWORD,
BERTH_USERNAME/PASSWORD, the Docker config and credential helpers).`,
		Example: `  berth copy myreg.azurecr.io/team/app:v1 https://berth.example/team/app
  berth copy http://127.0.0.1:5000/app:v1 http://127.0.0.1:5001/app:v1 --referrers
  berth copy myreg.azurecr.io/team/app https://berth.example/team/app --all-tags
  berth copy docker.io/library/alpine:3.20 https://berth.example/mirror/alpine --platform linux/amd64`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCopy(cmd, f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.platforms, "platform", nil, "copy only this platform of an index, os/arch[/variant] (repeatable)")
	fl.BoolVar(&f.referrers, "referrers", false, "copy signatures, attestations and SBOMs referring to the image")
	fl.BoolVar(&f.allTags, "all-tags", false, "copy every tag of the source repository")
	fl.IntVar(&f.concurrency, "concurrency", 4, "blobs in flight (1-32)")
	fl.StringVar(&f.srcCreds, "src-creds", "", "USER:PASSWORD for the source registry")
	fl.StringVar(&f.dstCreds, "dest-creds", "", "USER:PASSWORD for the destination registry")
	return cmd
}

// lookupFromCreds turns USER:PASSWORD into a lookup; empty is the usual
// lookup.
func lookupFromCreds(flag, s string) (remote.CredentialLookup, error) {
	if s == "" {
		return remote.CredentialLookup{}, nil
	}
	u, p, ok := strings.Cut(s, ":")
	if !ok || p == "" {
		return remote.CredentialLookup{}, fmt.Errorf("%s: want USER:PASSWORD", flag)
	}
	return remote.CredentialLookup{Username: u, Password: p}, nil
}

// openRegistryClient resolves the credential for reg and returns a client
// for it, and where the credential came from.
func openRegistryClient(ctx context.Context, reg string, look remote.CredentialLookup) (*remote.Client, string, error) {
	base := fleet.NormalizeURL(reg) // a bare host means https
	u, err := url.Parse(base)
	if err != nil {
		return nil, "", fmt.Errorf("registry %q: %w", reg, err)
	}
	cred, from, err := remote.ResolveCredential(ctx, u.Host, look)
	if err != nil {
		return nil, "", err
	}
	c, err := remote.New(base, remote.Options{Credential: cred})
	return c, from, err
}

func runCopy(cmd *cobra.Command, f copyFlags, srcArg, dstArg string) error {
	usage := func(err error) error { return &usageError{cmd: cmd.CommandPath(), err: err} }
	src, err := remote.ParseImageRef(srcArg)
	if err != nil {
		return usage(err)
	}
	dst, err := remote.ParseImageRef(dstArg)
	if err != nil {
		return usage(err)
	}
	switch {
	case f.allTags && (src.Ref != "" || dst.Ref != ""):
		return usage(errors.New("--all-tags copies a repository: give SRC and DST without a tag or digest"))
	case !f.allTags && src.Ref == "":
		return usage(fmt.Errorf("%q: name a tag or digest, or give --all-tags", srcArg))
	case oci.IsDigest(dst.Ref):
		return usage(errors.New("DST takes a tag, not a digest: the digest is the source's"))
	case f.concurrency < 1 || f.concurrency > 32:
		return usage(fmt.Errorf("--concurrency %d: want 1 to 32", f.concurrency))
	}
	srcLook, err := lookupFromCreds("--src-creds", f.srcCreds)
	if err != nil {
		return usage(err)
	}
	dstLook, err := lookupFromCreds("--dest-creds", f.dstCreds)
	if err != nil {
		return usage(err)
	}
	ctx, stderr := cmd.Context(), cmd.ErrOrStderr()
	sc, srcFrom, err := openRegistryClient(ctx, src.Registry, srcLook)
	if err != nil {
		return err
	}
	dc, dstFrom, err := openRegistryClient(ctx, dst.Registry, dstLook)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "copying from %s (credentials: %s) to %s (credentials: %s)\n", sc.Base(), srcFrom, dc.Base(), dstFrom)
	cp := remote.NewCopier(sc, dc, remote.CopyOptions{Platforms: f.platforms, Referrers: f.referrers, Concurrency: f.concurrency, Progress: stderr})
	start := time.Now()
	var copyErr error
	if f.allTags {
		var n int
		n, copyErr = cp.CopyRepository(ctx, src.Repo, dst.Repo)
		fmt.Fprintf(cmd.OutOrStdout(), "%d tags of %s copied to %s/%s\n", n, src.Repo, dc.Base(), dst.Repo)
	} else {
		tag := dst.Ref
		if tag == "" && !strings.HasPrefix(src.Ref, "sha256:") {
			tag = src.Ref
		}
		d, err := cp.Copy(ctx, src.Repo, src.Ref, dst.Repo, tag)
		copyErr = err
		if err == nil {
			name := dst.Repo + "@" + d.String()
			if tag != "" {
				name = dst.Repo + ":" + tag
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", dc.Base(), name, d)
		}
	}
	writeCopySummary(cmd.OutOrStdout(), cp.Stats(), time.Since(start))
	return copyErr
}

func writeCopySummary(w io.Writer, s remote.CopyStats, took time.Duration) {
	fmt.Fprintf(w, "copied %d manifests (%d already there), %d blobs of %s (%d already there, %d mounted) in %s\n",
		s.Manifests, s.ManifestsSkipped, s.Blobs, retention.HumanBytes(s.Bytes), s.BlobsSkipped, s.BlobsMounted, took.Round(time.Millisecond))
}
