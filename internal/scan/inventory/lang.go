package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// parsePythonMetadata reads the Name and Version headers of a wheel's
// METADATA or an egg's PKG-INFO (RFC 822 headers, then a free-form body).
func parsePythonMetadata(data []byte) ([]Package, error) {
	var name, version string
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the body starts
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "Name":
			name = string(bytes.TrimSpace(v))
		case "Version":
			version = string(bytes.TrimSpace(v))
		}
	}
	if name == "" || version == "" {
		return nil, errors.New("no Name or Version header")
	}
	return []Package{{Name: name, Version: version, Ecosystem: EcosystemPyPI}}, nil
}

// parseNPMPackage reads the name and version of an installed package's
// package.json. One without either (a private or workspace package) is not
// an installed registry package and is skipped.
func parseNPMPackage(data []byte) ([]Package, error) {
	var pj struct {
		Name    any `json:"name"`
		Version any `json:"version"`
	}
	if err := json.Unmarshal(data, &pj); err != nil {
		return nil, fmt.Errorf("decoding package.json: %w", err)
	}
	name, _ := pj.Name.(string)
	version, _ := pj.Version.(string)
	if name == "" || version == "" {
		return nil, nil
	}
	return []Package{{Name: name, Version: version, Ecosystem: EcosystemNPM}}, nil
}

// parsePomProperties reads the groupId, artifactId and version that Maven
// writes into every jar it builds.
func parsePomProperties(data []byte) (Package, error) {
	props := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	g, a, v := props["groupId"], props["artifactId"], props["version"]
	if g == "" || a == "" || v == "" {
		return Package{}, errors.New("pom.properties without groupId, artifactId or version")
	}
	return Package{Name: g + ":" + a, Version: v, Ecosystem: EcosystemMaven}, nil
}
