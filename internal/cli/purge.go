package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/fleet"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

const purgeLong = `Delete old tags and untagged manifests from a Berth registry, with the
reason for every decision. It mirrors az acr purge: the same flags mean the
same thing, except that --keep is a floor over every selected tag (see
docs/purge.md).

Each --filter is 'repository-regex:tag-regex'. Both regular expressions must
match the whole name. A repository's selected tags are those matching the
tag regex of any filter whose repository regex matches it; other tags are
kept. A manifest is deleted when no tag is left on it and nothing keeps it,
together with its signatures and other referrers.

At least one deletion rule is required: --ago, --max-tags or --untagged.
The plan is printed first; --dry-run stops there. Before each deletion the
tag or manifest is read again, and anything pushed or moved since the plan
was built is skipped.

Locked tags and manifests, and tags under an immutability rule, are kept
("kept: locked"). With --include-locked, a lock on the tag or digest itself
no longer protects it: the rules decide, and the lock is cleared just
before its item is deleted. Repository locks and immutability rules are
never cleared.`

const purgeExample = `  # The nightly "keep the two newest tags everywhere" job
  berth purge --registry http://127.0.0.1:5000 --filter '.*:.*' --ago 0d --keep 2

  # Tags older than 30 days in team-a, at least 5 kept, nothing pulled this week
  berth purge --registry http://127.0.0.1:5000 --filter 'team-a/.*:.*' \
      --ago 30d --keep 5 --pulled-within 7d --dry-run

  # Untagged manifests only, as ACR's retention policy does
  berth purge --registry http://127.0.0.1:5000 --filter '.*:.*' --untagged --ago 7d`

// purgeFlags are the command line of berth purge.
type purgeFlags struct {
	registries   []string
	config       string
	creds        credFlags
	allowColl    bool
	force        bool
	filters      []string
	ago          string
	keep         int
	maxTags      int
	untagged     bool
	pulledWithin string
	dryRun       bool
	concurrency  int
	output       string

	// includeLocked plans tags and manifests locked on their own like
	// any other, and clears such a lock just before deleting its item.
	includeLocked bool
}

func newPurge() *cobra.Command {
	var f purgeFlags
	cmd := &cobra.Command{
		Use:     "purge (--registry URL --filter 'REPO:TAG' | --config fleet.yaml) [flags]",
		Short:   "Delete old tags and untagged manifests, explaining each decision",
		Long:    purgeLong,
		Example: purgeExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config != "" {
				return runFleetFile(cmd, f)
			}
			groups, base, err := f.compile()
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			return runPurge(cmd, f, groups, base)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.registries, "registry", []string{"http://127.0.0.1:5000"}, "registry URL or host (repeatable): Berth, ACR or any OCI registry")
	fl.StringVar(&f.config, "config", "", "fleet file listing registries and their policies (docs/fleet.md)")
	fl.BoolVar(&f.allowColl, "allow-collateral", false, "on registries that delete by digest, also delete kept tags of a deleted tag's manifest")
	fl.BoolVar(&f.force, "force", false, "use --ago even when tag times are unusable (1970 or 0001 from reproducible builds)")
	f.creds.register(fl)
	fl.StringArrayVar(&f.filters, "filter", nil, "'repository-regex:tag-regex' selecting what the rules apply to (repeatable, required)")
	fl.StringVar(&f.ago, "ago", "", "delete selected tags pushed longer ago than this: 30d, 2d3h6m, 0d for any age")
	fl.IntVar(&f.keep, "keep", 0, "always keep the N newest selected tags of each repository (a floor)")
	fl.IntVar(&f.maxTags, "max-tags", -1, "delete the oldest selected tags beyond the newest M of each repository")
	fl.BoolVar(&f.untagged, "untagged", false, "also delete manifests without tags (older than --ago when given)")
	fl.StringVar(&f.pulledWithin, "pulled-within", "", "keep tags and manifests pulled within this duration, e.g. 7d")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and delete nothing")
	fl.BoolVar(&f.includeLocked, "include-locked", false, "also delete locked tags and manifests, clearing their locks first (never repository locks or immutability rules)")
	fl.IntVar(&f.concurrency, "concurrency", retention.DefaultConcurrency, "deletions in flight at once (1-32)")
	fl.StringVar(&f.output, "output", "table", "table or json")
	return cmd
}

// filterRepo is one --filter: the repository expression compiled, the tag
// expression as given (the policy compiles it).
type filterRepo struct {
	repoRe *regexp.Regexp
	tag    string
}

// compile checks the flags and returns the parsed filters and the rules
// every policy shares; the selectors are filled in per repository later.
func (f *purgeFlags) compile() ([]filterRepo, retention.Policy, error) {
	var errs []error
	p := retention.Policy{Name: "purge", Keep: f.keep}
	if len(f.registries) == 0 || slices.Contains(f.registries, "") {
		errs = append(errs, errors.New("--registry must not be empty"))
	}
	if len(f.filters) == 0 {
		errs = append(errs, errors.New("at least one --filter 'repository-regex:tag-regex' is required"))
	}
	var filters []filterRepo
	for _, s := range f.filters {
		repo, tag, ok := splitFilter(s)
		if !ok {
			errs = append(errs, fmt.Errorf("--filter %q: want 'repository-regex:tag-regex'", s))
			continue
		}
		// Validate each half on its own so that the message names it.
		if err := (&retention.Policy{Repositories: retention.Selector{Include: []string{repo}}, Tags: retention.Selector{Include: []string{tag}}}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--filter %q: %w", s, err))
			continue
		}
		// Anchored as retention anchors its selectors.
		re, err := regexp.Compile(`^(?:` + repo + `)$`)
		if err != nil {
			errs = append(errs, fmt.Errorf("--filter %q: %w", s, err))
			continue
		}
		filters = append(filters, filterRepo{repoRe: re, tag: tag})
	}
	dur := func(flag, s string) *retention.Duration {
		if s == "" {
			return nil
		}
		d, err := retention.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
			return nil
		}
		return &d
	}
	p.OlderThan = dur("ago", f.ago)
	if pw := dur("pulled-within", f.pulledWithin); pw != nil {
		p.PulledWithin = *pw
	}
	if f.maxTags >= 0 {
		p.MaxTags = &f.maxTags
	}
	if f.untagged {
		var zero retention.Duration
		p.UntaggedOlderThan = cmp.Or(p.OlderThan, &zero)
	}
	if f.ago == "" && f.maxTags < 0 && !f.untagged {
		errs = append(errs, errors.New("no deletion rule: give --ago, --max-tags or --untagged (to keep the 2 newest tags: --ago 0d --keep 2)"))
	}
	if f.keep < 0 {
		errs = append(errs, fmt.Errorf("--keep: must not be negative, got %d", f.keep))
	}
	if f.maxTags >= 0 && f.maxTags < f.keep {
		errs = append(errs, fmt.Errorf("--max-tags %d is below --keep %d", f.maxTags, f.keep))
	}
	if f.concurrency < 1 || f.concurrency > fleet.MaxConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency: want 1 to 32, got %d", f.concurrency))
	}
	if f.output != "table" && f.output != "json" {
		errs = append(errs, fmt.Errorf("--output: want table or json, got %q", f.output))
	}
	return filters, p, errors.Join(errs...)
}

// splitFilter cuts 'repo:tag' at the first colon that does not open a
// non-capturing group "(?:", since repository names never hold a colon.
func splitFilter(s string) (repo, tag string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && (i == 0 || s[i-1] != '?') {
			repo, tag = s[:i], s[i+1:]
			return repo, tag, repo != "" && tag != ""
		}
	}
	return "", "", false
}

// planPurge builds one plan for all filters. Repositories matched by the
// same set of filters share a tag selection, so each such group is planned
// with its own policy and the plans are merged.
func planPurge(ctx context.Context, src fleet.Source, filters []filterRepo, base retention.Policy, now time.Time) (*retention.Plan, error) {
	names, err := src.Repositories(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	groups := map[string]*fixedRepos{}
	var keys []string
	for _, name := range names {
		var tags []string
		for _, fl := range filters {
			if fl.repoRe.MatchString(name) && !slices.Contains(tags, fl.tag) {
				tags = append(tags, fl.tag)
			}
		}
		if len(tags) == 0 {
			continue
		}
		slices.Sort(tags)
		key := strings.Join(tags, "\x00")
		g, ok := groups[key]
		if !ok {
			g = &fixedRepos{Source: src, tags: tags}
			groups[key] = g
			keys = append(keys, key)
		}
		g.names = append(g.names, name)
	}
	slices.Sort(keys)
	merged := &retention.Plan{Policy: base.Name, Now: now, Repositories: []retention.RepoPlan{}}
	for _, k := range keys {
		g := groups[k]
		p := base
		p.Tags = retention.Selector{Include: g.tags}
		gp, err := retention.BuildPlan(ctx, g, &p, now)
		if err != nil {
			return nil, err
		}
		merged.Repositories = append(merged.Repositories, gp.Repositories...)
		s := &merged.Summary
		s.Repositories += gp.Summary.Repositories
		s.TagsKept += gp.Summary.TagsKept
		s.TagsDeleted += gp.Summary.TagsDeleted
		s.ManifestsKept += gp.Summary.ManifestsKept
		s.ManifestsDeleted += gp.Summary.ManifestsDeleted
		s.BytesFreed += gp.Summary.BytesFreed
	}
	slices.SortFunc(merged.Repositories, func(a, b retention.RepoPlan) int { return strings.Compare(a.Name, b.Name) })
	return merged, nil
}

// fixedRepos is a Source whose repositories were chosen already.
type fixedRepos struct {
	fleet.Source
	names []string
	tags  []string
}

func (f *fixedRepos) Repositories(context.Context) ([]string, error) { return f.names, nil }

func writeReport(w io.Writer, rep any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// writeResult prints what happened, then a summary line.
func writeResult(w io.Writer, res *retention.Result, freed int64) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nOUTCOME\tREPOSITORY\tTAG\tDIGEST\tDETAIL")
	rows := func(label string, os []retention.Outcome) {
		for _, o := range os {
			tag := o.Tag
			if o.Kind == retention.KindManifest {
				tag = "<manifest>"
			}
			detail := o.Reason
			if o.Error != "" {
				detail = o.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", label, o.Repo, tag, retention.ShortDigest(o.Digest), detail)
		}
	}
	rows("deleted", res.Deleted)
	rows("skipped", res.Skipped)
	rows("failed", res.Failed)
	count := func(os []retention.Outcome, k retention.Kind) int {
		n := 0
		for _, o := range os {
			if o.Kind == k {
				n++
			}
		}
		return n
	}
	fmt.Fprintf(tw, "\nDeleted %d tags and %d manifests; skipped %d; failed %d; about %s freed\n",
		count(res.Deleted, retention.KindTag), count(res.Deleted, retention.KindManifest),
		len(res.Skipped), len(res.Failed), retention.HumanBytes(freed))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}

// freedBy estimates the bytes the deleted manifests freed, as the plan
// does: each one's own size plus blobs no surviving manifest of its
// repository uses.
func freedBy(p *retention.Plan, res *retention.Result) int64 {
	gone := map[string]map[digest.Digest]bool{}
	for _, o := range res.Deleted {
		if o.Kind == retention.KindManifest {
			if gone[o.Repo] == nil {
				gone[o.Repo] = map[digest.Digest]bool{}
			}
			gone[o.Repo][o.Digest] = true
		}
	}
	var total int64
	for _, r := range p.Repositories {
		g := gone[r.Name]
		if len(g) == 0 {
			continue
		}
		kept := map[digest.Digest]bool{}
		for _, m := range r.Manifests {
			if !g[m.Digest] {
				for _, b := range m.Blobs {
					kept[b.Digest] = true
				}
			}
		}
		counted := map[digest.Digest]bool{}
		for _, m := range r.Manifests {
			if !g[m.Digest] {
				continue
			}
			total += m.Size
			for _, b := range m.Blobs {
				if !kept[b.Digest] && !counted[b.Digest] {
					counted[b.Digest] = true
					total += b.Size
				}
			}
		}
	}
	return total
}
