// Package artifact publishes and fetches vulnerability databases as OCI
// artifacts, so that an air-gapped site mirrors one artifact between
// registries (any OCI 1.1 registry, Berth included) instead of files.
//
// An artifact is an OCI image manifest with artifactType
// application/vnd.berth.vulndb.v1, the empty config, and one layer per
// source: an OSV zip (application/vnd.berth.vulndb.osv.v1+zip) titled with
// its file name. Pull also takes the layer of a Trivy database artifact
// (ghcr.io/aquasecurity/trivy-db:2), saved as trivy-db.tar.gz.
package artifact

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

// Media types of the artifact.
const (
	ArtifactType = "application/vnd.berth.vulndb.v1"
	LayerOSVZip  = "application/vnd.berth.vulndb.osv.v1+zip"
	LayerTrivyDB = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	// TrivyDBFile is the name a pulled Trivy layer is saved under.
	TrivyDBFile = "trivy-db.tar.gz"
)

// MaxLayer bounds one pulled layer: osv.dev's all.zip of every ecosystem
// is about 1 GiB, the Trivy database about 70 MiB compressed.
const MaxLayer = 8 << 30

// Target is one reference in one registry.
type Target struct {
	Client *remote.Client
	Repo   string
	Ref    string // tag or digest
}

// Options says how to reach the registry.
type Options struct {
	// Insecure uses plain HTTP; loopback hosts always do.
	Insecure bool
	// Credentials are looked up as for berth purge (flags, BERTH_* variables,
	// the Docker config).
	Credentials remote.CredentialLookup
}

// Open parses REGISTRY/REPO[:TAG|@DIGEST] (an "oci://" prefix is allowed)
// and returns a client for it.
func Open(ctx context.Context, ref string, opts Options) (Target, error) {
	ref = strings.TrimPrefix(ref, "oci://")
	host, rest, ok := strings.Cut(ref, "/")
	if !ok || host == "" || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return Target{}, fmt.Errorf("%q: want REGISTRY/REPO:TAG, e.g. registry.example/security/osv:latest", ref)
	}
	repo, tag := rest, "latest"
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		repo, tag = rest[:i], rest[i+1:]
		if _, err := digest.Parse(tag); err != nil {
			return Target{}, fmt.Errorf("%q: %w", ref, err)
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		repo, tag = rest[:i], rest[i+1:]
		if !oci.ValidTag(tag) {
			return Target{}, fmt.Errorf("%q: invalid tag %q", ref, tag)
		}
	}
	if !oci.ValidName(repo) {
		return Target{}, fmt.Errorf("%q: invalid repository name %q", ref, repo)
	}
	scheme := "https"
	if opts.Insecure || loopback(host) {
		scheme = "http"
	}
	cred, _, err := remote.ResolveCredential(ctx, host, opts.Credentials)
	if err != nil {
		return Target{}, err
	}
	c, err := remote.New(scheme+"://"+host, remote.Options{Credential: cred})
	if err != nil {
		return Target{}, err
	}
	return Target{Client: c, Repo: repo, Ref: tag}, nil
}

func loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func init() {
	scanner.RegisterFetcher("oci", func(ctx context.Context, ref, dir string) ([]string, string, error) {
		t, err := Open(ctx, ref, Options{})
		if err != nil {
			return nil, "", err
		}
		files, d, err := Pull(ctx, t, dir)
		return files, d.String(), err
	})
}

// Push uploads each file as a layer and the manifest under t.Ref.
func Push(ctx context.Context, t Target, files []string) (digest.Digest, error) {
	empty := []byte("{}")
	cfg, err := t.Client.PushBlob(ctx, t.Repo, empty)
	if err != nil {
		return "", err
	}
	m := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       v1.Descriptor{MediaType: oci.MediaTypeEmptyJSON, Digest: cfg, Size: int64(len(empty))},
		Layers:       []v1.Descriptor{},
	}
	m.SchemaVersion = 2
	for _, f := range files {
		d, size, err := t.Client.PushBlobFile(ctx, t.Repo, f)
		if err != nil {
			return "", err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: LayerOSVZip, Digest: d, Size: size,
			Annotations: map[string]string{v1.AnnotationTitle: filepath.Base(f)}})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return t.Client.PushManifest(ctx, t.Repo, t.Ref, v1.MediaTypeImageManifest, body)
}

// validTitle keeps a layer's title usable as a file name: no directories,
// nothing hidden.
var validTitle = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Pull saves the database layers of the artifact in dir, each as
// "<title>" (a layer already there with the same digest is not fetched
// again), removes what dir held from earlier versions, and returns the
// files and the manifest digest.
func Pull(ctx context.Context, t Target, dir string) ([]string, digest.Digest, error) {
	desc, body, err := t.Client.GetManifest(ctx, t.Repo, t.Ref)
	if err != nil {
		return nil, "", err
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, "", fmt.Errorf("%s:%s: manifest: %w", t.Repo, t.Ref, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", err
	}
	keep := map[string]bool{}
	var files []string
	for i, l := range m.Layers {
		var name string
		switch l.MediaType {
		case LayerOSVZip:
			name = l.Annotations[v1.AnnotationTitle]
			if !validTitle.MatchString(name) || !strings.HasSuffix(name, ".zip") {
				name = fmt.Sprintf("layer-%d.zip", i)
			}
		case LayerTrivyDB:
			name = TrivyDBFile
		default:
			continue
		}
		if keep[name] {
			name = fmt.Sprintf("%d-%s", i, name)
		}
		path := filepath.Join(dir, name)
		keep[name], keep[name+".digest"] = true, true
		if have, err := os.ReadFile(path + ".digest"); err == nil && string(have) == l.Digest.String() {
			files = append(files, path)
			continue
		}
		if err := pullLayer(ctx, t, l, path); err != nil {
			return nil, "", err
		}
		files = append(files, path)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%s:%s (%s) has no vulnerability database layer; is it an artifact of berth vulndb push?", t.Repo, t.Ref, m.ArtifactType)
	}
	old, _ := os.ReadDir(dir)
	for _, e := range old {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return files, desc.Digest, nil
}

// pullLayer downloads to a temporary file and renames it into place, then
// records the digest beside it.
func pullLayer(ctx context.Context, t Target, l v1.Descriptor, path string) error {
	if l.Size > MaxLayer {
		return fmt.Errorf("layer %s of %d bytes is over %d", l.Digest, l.Size, int64(MaxLayer))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pull-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = t.Client.GetBlobTo(ctx, t.Repo, l.Digest, tmp, MaxLayer)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pulling %s: %w", l.Digest, err)
	}
	os.Remove(path + ".digest")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return os.WriteFile(path+".digest", []byte(l.Digest.String()), 0o640)
}
