package inventory

import (
	"bytes"
	"fmt"
)

// parseAPK reads Alpine's lib/apk/db/installed: paragraphs of "K:value"
// lines with one-letter keys (P name, V version, A arch, o origin).
func parseAPK(data []byte) ([]Package, error) {
	var pkgs []Package
	var cur Package
	start, lineNo, inPara := 0, 0, false
	flush := func() error {
		if !inPara {
			return nil
		}
		inPara = false
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("line %d: package without a P or V field", start)
		}
		cur.Ecosystem = EcosystemAPK
		if cur.SourceName == "" {
			cur.SourceName = cur.Name
		}
		// apk has no source version of its own: the origin is built at the
		// same version.
		cur.SourceVersion = cur.Version
		pkgs = append(pkgs, cur)
		cur = Package{}
		return nil
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		lineNo++
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			if err := flush(); err != nil {
				return pkgs, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return pkgs, fmt.Errorf("line %d: not a K:value line", lineNo)
		}
		if !inPara {
			inPara, start = true, lineNo
		}
		v := string(line[2:])
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.SourceName = v
		}
	}
	if err := flush(); err != nil {
		return pkgs, err
	}
	return pkgs, nil
}
