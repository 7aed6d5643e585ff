package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// maxTitle keeps a row on one line of a CI log.
const maxTitle = 80

// writeTable writes a header, the counts per severity, then one block per
// severity. A partial scan is announced before anything else.
func writeTable(out io.Writer, s *Scan) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "Image:     %s\n", s.Image)
	if s.Digest != "" {
		fmt.Fprintf(w, "Digest:    %s\n", s.Digest)
	}
	if s.Platform != "" {
		fmt.Fprintf(w, "Platform:  %s\n", s.Platform)
	}
	if s.Inventory != nil && (s.Inventory.OS.PrettyName != "" || s.Inventory.OS.ID != "") {
		os := s.Inventory.OS.PrettyName
		if os == "" {
			os = strings.TrimSpace(s.Inventory.OS.ID + " " + s.Inventory.OS.VersionID)
		}
		fmt.Fprintf(w, "OS:        %s\n", os)
	}
	fmt.Fprintf(w, "Database:  %s\n", s.DBVersion)
	if s.Partial() {
		fmt.Fprintf(w, "\n!!! PARTIAL SCAN: the image was not read completely; vulnerabilities may be missing !!!\n")
		for _, r := range reasons(s) {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	} else {
		fmt.Fprintf(w, "Inventory: complete, %d packages\n", len(packages(s)))
	}

	counts := s.Counts()
	parts := make([]string, 0, len(Severities))
	for _, sev := range Severities {
		parts = append(parts, fmt.Sprintf("%s: %d", sev, counts[sev]))
	}
	label := "Total"
	if f := filterText(s.Filter); f != "" {
		label += " (" + f + ")"
	}
	fmt.Fprintf(w, "\n%s: %d (%s)\n", label, len(s.Findings), strings.Join(parts, ", "))
	if len(s.Findings) == 0 {
		if s.Partial() {
			fmt.Fprintln(w, "No vulnerabilities found in the part of the image that was read; the scan is PARTIAL.")
		} else {
			fmt.Fprintln(w, "No vulnerabilities found.")
		}
	}

	for _, sev := range Severities {
		var rows []match.Finding
		for _, f := range s.Findings {
			if f.Severity == sev {
				rows = append(rows, f)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d)\n", sev, len(rows))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPACKAGE\tINSTALLED\tFIXED\tTITLE")
		for _, f := range rows {
			fixed := strings.Join(f.FixedVersions, ", ")
			if fixed == "" {
				fixed = "(" + string(f.FixStatus) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, f.Package, f.InstalledVersion, fixed, title(f))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func filterText(f Filter) string {
	var parts []string
	if len(f.Severities) > 0 && len(f.Severities) < len(Severities) {
		s := make([]string, len(f.Severities))
		for i, sev := range f.Severities {
			s[i] = string(sev)
		}
		parts = append(parts, "severity "+strings.Join(s, ","))
	}
	if f.IgnoreUnfixed {
		parts = append(parts, "fixed only")
	}
	return strings.Join(parts, "; ")
}

// title is the summary, or the start of the details when an advisory has
// no summary (many Go entries).
func title(f match.Finding) string {
	if f.Summary != "" {
		return oneLine(f.Summary)
	}
	return oneLine(f.Details)
}

// oneLine keeps a title from breaking the table: tabs and newlines from an
// advisory would shift or split the row.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxTitle {
		s = string(r[:maxTitle-1]) + "…"
	}
	return s
}

// level maps a severity to a SARIF result level.
func level(s vulndb.Severity) string {
	switch s {
	case vulndb.SeverityCritical, vulndb.SeverityHigh:
		return "error"
	case vulndb.SeverityMedium:
		return "warning"
	}
	return "note"
}
