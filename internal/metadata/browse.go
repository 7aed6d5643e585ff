package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// RepoSort orders a repository listing for browsing.
type RepoSort int

// The orders of BrowseRepos; ties are broken by name.
const (
	SortByName RepoSort = iota
	SortByTags
	SortBySize
	SortByPushed
	SortByPulled
	SortBySeverity
)

// RepoQuery selects one page of repositories for browsing (the web UI).
type RepoQuery struct {
	// Contains keeps names containing this substring ("" keeps all).
	Contains string
	// Patterns keeps names matching at least one of them, in the syntax
	// of authz grants ('*' matches any run, slashes included); nil keeps
	// all and an empty non-nil slice keeps none.
	Patterns []string
	Sort     RepoSort
	Desc     bool
	// Offset skips that many rows; N bounds the page (0: backend default).
	Offset int
	N      int
}

// RepoRow is a repository as the web UI lists it.
type RepoRow struct {
	Name      string
	Tags      int
	Manifests int
	Size      int64     // distinct blobs linked plus manifests
	Pushed    time.Time // latest manifest push or tag move
	Pulled    time.Time // latest pull of a live manifest; zero if never
	// Highest is the highest severity found in a live manifest's stored
	// scan, or "" if none was found (or nothing was scanned).
	Highest string
}

// Totals counts what a set of repositories holds.
type Totals struct {
	Repos  int
	Images int // live manifests
	Tags   int
}

// SeverityCount is how many images have a highest severity; Severity is
// "" for scanned images with no finding and "not-scanned" for the rest.
type SeverityCount struct {
	Severity string
	Images   int
}

// VulnCount is a vulnerability with the number of live images whose
// stored scan has it under its id or any of its aliases.
type VulnCount struct {
	ID       string
	Aliases  []string // the other ids of the same vulnerability, CVE ids first
	Severity string
	Images   int
}

// ScanBadge is the short form of a stored scan, for listings.
type ScanBadge struct {
	Status string
	// Highest is the highest severity of the scan's findings, an index's
	// children included; "" if none.
	Highest string
}

// NotScanned is the SeverityCount of images without a stored scan.
const NotScanned = "not-scanned"

// Browse answers the web UI's listings with bounded work per page. Every
// method takes the patterns of RepoQuery.Patterns to stay within what the
// caller may see.
type Browse interface {
	// BrowseRepos returns one page of repositories and how many match.
	BrowseRepos(ctx context.Context, q RepoQuery) ([]RepoRow, int, error)
	// BrowseTotals counts the repositories, live manifests and tags.
	BrowseTotals(ctx context.Context, patterns []string) (Totals, error)
	// SeverityCounts counts live images (not indexes) by the highest
	// severity of their stored scan.
	SeverityCounts(ctx context.Context, patterns []string) ([]SeverityCount, error)
	// TopVulns returns up to n vulnerability ids by the number of live
	// images affected, most first; CVE ids are preferred when any exist.
	TopVulns(ctx context.Context, patterns []string, n int) ([]VulnCount, error)
	// AffectedSample returns up to n live images, in no particular order,
	// whose stored scan has the vulnerability id (or alias) id; cheap
	// however many there are. Tags are not filled in.
	AffectedSample(ctx context.Context, id string, patterns []string, n int) ([]AffectedImage, error)
	// ScanBadges returns the badges of the digests that have a stored scan.
	ScanBadges(ctx context.Context, ds []digest.Digest) (map[digest.Digest]ScanBadge, error)
}
