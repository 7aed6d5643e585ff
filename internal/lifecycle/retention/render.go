package retention

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/opencontainers/go-digest"
)

// WriteTable renders p for people: one row per tag, then one per manifest,
// repository by repository, and a summary line. Ages are relative to p.Now
// so that the same plan always renders the same way.
func WriteTable(w io.Writer, p *Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tAGE\tACTION\tREASON")
	for _, r := range p.Repositories {
		for _, t := range r.Tags {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, t.Name, ShortDigest(t.Digest), age(p.Now.Sub(t.PushedAt)), action(t.Decision), t.Reason)
		}
		for _, m := range r.Manifests {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, manifestLabel(m), ShortDigest(m.Digest), age(p.Now.Sub(m.PushedAt)), action(m.Decision), m.Reason)
		}
	}
	s := p.Summary
	fmt.Fprintf(tw, "\n%d repositories: %d tags deleted, %d kept; %d manifests deleted, %d kept; about %s freed\n",
		s.Repositories, s.TagsDeleted, s.TagsKept, s.ManifestsDeleted, s.ManifestsKept, HumanBytes(s.BytesFreed))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing plan table: %w", err)
	}
	return nil
}

// WriteJSON renders p for programs, indented, with the same ordering as
// the table.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("writing plan JSON: %w", err)
	}
	return nil
}

func action(d Decision) string {
	if d.Delete {
		return "delete"
	}
	return "keep"
}

// manifestLabel marks manifest rows apart from tag rows in the TAG column.
func manifestLabel(m ManifestPlan) string {
	if len(m.Tags) == 0 {
		return "<untagged>"
	}
	return "<manifest>"
}

// ShortDigest abbreviates a digest for tables: algorithm and 12 hex digits.
func ShortDigest(d digest.Digest) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// HumanBytes formats a byte count in binary units, as plan tables show it.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
