package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// parseDpkg reads a dpkg status file (or one file of distroless's
// status.d): RFC 822-like paragraphs separated by blank lines. Only
// installed packages are kept; a paragraph without a Status field (as in
// status.d) counts as installed.
func parseDpkg(data []byte) ([]Package, error) {
	var pkgs []Package
	err := forEachParagraph(data, func(line int, fields map[string]string) error {
		name := fields["Package"]
		if name == "" {
			return fmt.Errorf("line %d: paragraph without Package", line)
		}
		if st, ok := fields["Status"]; ok && !isInstalled(st) {
			return nil
		}
		version := fields["Version"]
		if version == "" {
			return fmt.Errorf("line %d: package %q without Version", line, name)
		}
		p := Package{
			Name: name, Version: version, Arch: fields["Architecture"],
			SourceName: name, SourceVersion: version, Ecosystem: EcosystemDeb,
		}
		// "Source: name" or "Source: name (version)" when the source
		// version differs (binNMUs).
		if src := fields["Source"]; src != "" {
			n, v, hasV := strings.Cut(src, " ")
			p.SourceName = n
			if hasV {
				v = strings.TrimSpace(v)
				if !strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") {
					return fmt.Errorf("line %d: malformed Source %q", line, src)
				}
				p.SourceVersion = strings.TrimSpace(v[1 : len(v)-1])
			}
		}
		pkgs = append(pkgs, p)
		return nil
	})
	return pkgs, err
}

// isInstalled reads the third word of "Status: want flag status".
func isInstalled(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && (f[2] == "installed" || f[2] == "half-configured" || f[2] == "triggers-awaited" || f[2] == "triggers-pending")
}

// dpkgFields are the only fields kept, so a paragraph costs a few strings
// whatever its description says.
var dpkgFields = map[string]bool{"Package": true, "Status": true, "Version": true, "Architecture": true, "Source": true}

var errNoColon = errors.New("line is neither a field nor a continuation")

// forEachParagraph calls fn with the kept fields of each paragraph and the
// line it starts on.
func forEachParagraph(data []byte, fn func(line int, fields map[string]string) error) error {
	fields := map[string]string{}
	start, lineNo, inPara := 0, 0, false
	flush := func() error {
		if !inPara {
			return nil
		}
		err := fn(start, fields)
		clear(fields)
		inPara = false
		return err
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		lineNo++
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !inPara {
				return fmt.Errorf("line %d: continuation outside a paragraph", lineNo)
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
			return fmt.Errorf("line %d: %w", lineNo, errNoColon)
		}
		if !inPara {
			inPara, start = true, lineNo
		}
		if key := string(k); dpkgFields[key] {
			fields[key] = string(bytes.TrimSpace(v))
		}
	}
	return flush()
}
