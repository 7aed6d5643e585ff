package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/image"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// openScanImage opens what berth scan was given. A registry image goes
// through the fleet's credential lookup (docs/fleet.md): with a credential
// it is read by internal/remote, which answers Basic and token challenges;
// without one, anonymously as before.
func openScanImage(ctx context.Context, ref string, o scanOptions, stderr io.Writer) (*image.Image, error) {
	if !isRegistryRef(ref) {
		return image.Open(ctx, ref, o.image)
	}
	r, err := image.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	cred, from, err := remote.ResolveCredential(ctx, r.Host, o.creds)
	if err != nil {
		return nil, err
	}
	if cred.Empty() {
		return image.Open(ctx, ref, o.image)
	}
	fmt.Fprintf(stderr, "%s: credentials: %s\n", r.Host, from)
	c, err := remote.New(registryBase(r.Host, o.image.Insecure), remote.Options{Credential: cred})
	if err != nil {
		return nil, err
	}
	at := r.Tag
	if r.Digest != "" {
		at = r.Digest.String()
	}
	im, err := image.OpenRemote(ctx, c, r.Repo, at, o.image)
	if err != nil {
		return nil, err
	}
	im.Ref = ref
	return im, nil
}

// isRegistryRef tells a registry reference from a layout or an archive,
// as image.Open does.
func isRegistryRef(ref string) bool {
	if strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") || strings.HasSuffix(ref, ".tar") {
		return false
	}
	_, err := os.Stat(ref)
	return err != nil
}

// registryBase is the URL of host: plain HTTP for this machine or with
// --insecure, as berth scan has always done.
func registryBase(host string, insecure bool) string {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	if insecure || h == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "http://" + host
	}
	return "https://" + host
}

// scanAllImage is one distinct manifest of berth scan --all.
type scanAllImage struct {
	Image  string                  `json:"image"`
	Digest string                  `json:"digest"`
	Tags   []string                `json:"tags"`
	Counts map[vulndb.Severity]int `json:"counts,omitempty"`
	// Partial marks a scan that could not read the whole image.
	Partial bool            `json:"partial,omitempty"`
	Error   string          `json:"error,omitempty"`
	Report  json.RawMessage `json:"report,omitempty"`

	repo     string
	findings int
	reasons  []string
}

// scanAllTotal sums a berth scan --all run.
type scanAllTotal struct {
	Repositories int                     `json:"repositories"`
	Tags         int                     `json:"tags"`
	Images       int                     `json:"images"`
	WithFindings int                     `json:"withFindings"`
	Partial      int                     `json:"partial"`
	Failed       int                     `json:"failed"`
	Counts       map[vulndb.Severity]int `json:"counts"`
}

func runScanAll(ctx context.Context, stdout, stderr io.Writer, arg string, o scanOptions) error {
	if o.format != scanreport.Table && o.format != scanreport.JSON {
		return &usageError{cmd: "berth scan", err: errors.New("--all writes table or json; scan one image for sarif, cyclonedx or spdx")}
	}
	host, repo, base := splitScanAllArg(arg, o.image.Insecure)
	db, err := loadVulnDB(ctx, o.dbs)
	if err != nil {
		return err
	}
	if db.Len() == 0 {
		return fmt.Errorf("no advisories in %s; see berth vulndb status", strings.Join(o.dbs, ", "))
	}
	cred, from, err := remote.ResolveCredential(ctx, host, o.creds)
	if err != nil {
		return err
	}
	c, err := remote.New(base, remote.Options{Credential: cred})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: credentials: %s\n", c.Base(), from)
	var repos []string
	if repo != "" {
		repos = []string{repo}
	} else if err := c.Catalog(ctx, 1000, func(names []string) error { repos = append(repos, names...); return nil }); err != nil {
		return fmt.Errorf("listing repositories of %s: %w", c.Base(), err)
	}
	images, total, err := listScanAll(ctx, c, host, repos, o.concurrency)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d tags in %d repositories, %d distinct images to scan\n", c.Base(), total.Tags, len(repos), len(images))
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	for _, im := range images {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			scanOneOfAll(ctx, c, db, im, o)
		})
	}
	wg.Wait()
	for _, im := range images {
		total.add(im)
	}
	if err := writeScanAll(stdout, o, c.Base(), images, total); err != nil {
		return err
	}
	for _, im := range images {
		if im.Partial {
			fmt.Fprintf(stderr, "berth: WARNING: PARTIAL SCAN of %s: vulnerabilities may be missing: %s\n", im.Image, strings.Join(im.reasons, "; "))
		}
	}
	var found int
	for _, im := range images {
		found += im.findings
	}
	switch {
	case o.exitCode != 0 && found > 0:
		return &gateError{code: o.exitCode, n: found}
	case total.Failed > 0:
		return fmt.Errorf("%d of %d images could not be scanned", total.Failed, total.Images)
	}
	return nil
}

// splitScanAllArg reads REGISTRY[/REPO], REGISTRY a URL or a host.
func splitScanAllArg(arg string, insecure bool) (host, repo, base string) {
	rest := arg
	scheme := ""
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i+3], rest[i+3:]
	}
	host, repo, _ = strings.Cut(rest, "/")
	repo = strings.Trim(repo, "/")
	if scheme != "" {
		return host, repo, scheme + host
	}
	return host, repo, registryBase(host, insecure)
}

// listScanAll resolves every tag of repos to its digest, some at once,
// and groups tags by digest: a manifest tagged five times is one image.
func listScanAll(ctx context.Context, c *remote.Client, host string, repos []string, conc int) ([]*scanAllImage, scanAllTotal, error) {
	total := scanAllTotal{Repositories: len(repos), Counts: map[vulndb.Severity]int{}}
	type tagRef struct{ repo, tag string }
	var refs []tagRef
	for _, r := range repos {
		tags, err := c.Tags(ctx, r, 1000)
		if err != nil {
			return nil, total, fmt.Errorf("listing tags of %s: %w", r, err)
		}
		for _, t := range tags {
			if _, isRef := remote.ReferrerSubject(t); !isRef {
				refs = append(refs, tagRef{r, t})
			}
		}
	}
	total.Tags = len(refs)
	digests := make([]digest.Digest, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, conc*2)
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := c.HeadManifest(ctx, r.repo, r.tag)
			digests[i], errs[i] = d.Digest, err
		})
	}
	wg.Wait()
	byDigest := map[digest.Digest]*scanAllImage{}
	var out []*scanAllImage
	for i, r := range refs {
		name := host + "/" + r.repo + ":" + r.tag
		if errs[i] != nil || digests[i] == "" {
			msg := "registry named no digest"
			if errs[i] != nil {
				msg = errs[i].Error()
			}
			out = append(out, &scanAllImage{Image: name, Tags: []string{r.repo + ":" + r.tag}, Error: msg, repo: r.repo})
			continue
		}
		if im := byDigest[digests[i]]; im != nil {
			im.Tags = append(im.Tags, r.repo+":"+r.tag)
			continue
		}
		im := &scanAllImage{Image: name, Digest: digests[i].String(), Tags: []string{r.repo + ":" + r.tag}, repo: r.repo}
		byDigest[digests[i]] = im
		out = append(out, im)
	}
	for _, im := range out {
		slices.Sort(im.Tags)
		im.Image = host + "/" + im.Tags[0]
	}
	slices.SortFunc(out, func(a, b *scanAllImage) int { return strings.Compare(a.Image, b.Image) })
	return out, total, nil
}

// scanOneOfAll scans im by digest and records the outcome in it.
func scanOneOfAll(ctx context.Context, c *remote.Client, db *vulndb.DB, im *scanAllImage, o scanOptions) {
	if im.Error != "" {
		return
	}
	opened, err := image.OpenRemote(ctx, c, im.repo, im.Digest, o.image)
	if err != nil {
		im.Error = err.Error()
		return
	}
	s, err := scanOpened(ctx, db, opened, im.Image, o)
	if err != nil {
		im.Error = err.Error()
		return
	}
	im.Counts, im.findings, im.Partial = s.Counts(), len(s.Findings), s.Partial()
	if s.Inventory != nil {
		im.reasons = s.Inventory.Reasons
	}
	if o.format == scanreport.JSON {
		var buf bytes.Buffer
		if err := scanreport.Write(&buf, scanreport.JSON, s); err == nil {
			im.Report = json.RawMessage(bytes.TrimSpace(buf.Bytes()))
		}
	}
}

func (t *scanAllTotal) add(im *scanAllImage) {
	t.Images++
	switch {
	case im.Error != "":
		t.Failed++
		return
	case im.findings > 0:
		t.WithFindings++
	}
	if im.Partial {
		t.Partial++
	}
	for k, v := range im.Counts {
		t.Counts[k] += v
	}
}

// countsLine is "CRITICAL 1, HIGH 2" or "clean".
func countsLine(c map[vulndb.Severity]int) string {
	var parts []string
	for _, sev := range scanreport.Severities {
		if c[sev] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", sev, c[sev]))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

func writeScanAll(stdout io.Writer, o scanOptions, registry string, images []*scanAllImage, total scanAllTotal) error {
	return writeAtomically(stdout, o.output, func(w io.Writer) error {
		if o.format == scanreport.JSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Registry string          `json:"registry"`
				Images   []*scanAllImage `json:"images"`
				Total    scanAllTotal    `json:"total"`
			}{registry, images, total})
		}
		for _, im := range images {
			status := countsLine(im.Counts)
			switch {
			case im.Error != "":
				status = "ERROR: " + im.Error
			case im.Partial:
				status += " (PARTIAL)"
			}
			d := im.Digest
			if len(d) > 19 {
				d = d[:19]
			}
			also := ""
			if len(im.Tags) > 1 {
				also = fmt.Sprintf(" (also %s)", strings.Join(im.Tags[1:], ", "))
			}
			fmt.Fprintf(w, "%s %s%s: %s\n", im.Image, d, also, status)
		}
		fmt.Fprintf(w, "TOTAL: %d images (%d tags, %d repositories): %d with findings, %d partial, %d failed; %s\n",
			total.Images, total.Tags, total.Repositories, total.WithFindings, total.Partial, total.Failed, countsLine(total.Counts))
		return nil
	})
}

// writeAtomically writes to file through a temporary file renamed into
// place (so a CI step never reads half a report), or to stdout.
func writeAtomically(stdout io.Writer, file string, write func(io.Writer) error) error {
	if file == "" {
		return write(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".berth-scan-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return os.Rename(tmp.Name(), file)
}
