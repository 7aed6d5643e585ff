package report

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// SARIF 2.1.0, the subset code-scanning services read. Field names are the
// specification's.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	HelpURI              string         `json:"helpUri,omitempty"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region struct {
			StartLine int `json:"startLine"`
		} `json:"region"`
	} `json:"physicalLocation"`
	Message sarifText `json:"message"`
}

// securitySeverity is GitHub's numeric severity; without a CVSS score the
// middle of the rating's band stands in.
func securitySeverity(f match.Finding) string {
	if f.CVSSScore > 0 {
		return fmt.Sprintf("%.1f", f.CVSSScore)
	}
	switch f.Severity {
	case vulndb.SeverityCritical:
		return "9.5"
	case vulndb.SeverityHigh:
		return "8.0"
	case vulndb.SeverityMedium:
		return "5.5"
	case vulndb.SeverityLow:
		return "2.0"
	}
	return "0.0"
}

// sarifReport has one rule per vulnerability id and one result per finding,
// located at the file the package was found in (the image has no source
// lines; line 1 keeps viewers that require a region happy).
func sarifReport(s *Scan) sarifLog {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "berth", InformationURI: "https://github.com/berth-registry/berth", Version: s.ToolVersion, Rules: []sarifRule{}}},
		Results: []sarifResult{},
		Properties: map[string]any{
			"image": s.Image, "digest": s.Digest, "dbVersion": s.DBVersion,
		},
	}
	inv := sarifInvocation{ExecutionSuccessful: !s.Partial()}
	for _, r := range reasons(s) {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "warning", Message: sarifText{Text: "partial scan: " + r}})
	}
	run.Invocations = []sarifInvocation{inv}

	index := map[string]int{}
	for _, f := range s.Findings {
		i, ok := index[f.ID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.ID] = i
			rule := sarifRule{
				ID:                   f.ID,
				Name:                 "OSV/" + f.ID,
				ShortDescription:     sarifText{Text: cmp.Or(oneLine(f.Summary), f.ID)},
				FullDescription:      sarifText{Text: cmp.Or(f.Details, f.Summary, f.ID)},
				Help:                 sarifText{Text: fmt.Sprintf("Vulnerability %s\nSeverity: %s\n%s", f.ID, f.Severity, strings.Join(f.References, "\n"))},
				DefaultConfiguration: map[string]any{"level": level(f.Severity)},
				Properties: map[string]any{
					"security-severity": securitySeverity(f),
					"tags":              []string{"vulnerability", "security", string(f.Severity)},
				},
			}
			if len(f.References) > 0 {
				rule.HelpURI = f.References[0]
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
		}
		fixed := strings.Join(f.FixedVersions, ", ")
		if fixed == "" {
			fixed = string(f.FixStatus)
		}
		res := sarifResult{
			RuleID: f.ID, RuleIndex: i, Level: level(f.Severity),
			Message: sarifText{Text: fmt.Sprintf("Package: %s\nInstalled Version: %s\nVulnerability %s\nSeverity: %s\nFixed Version: %s\nLayer: %s",
				f.Package, f.InstalledVersion, f.ID, f.Severity, fixed, f.Layer)},
		}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = cmp.Or(f.Path, s.Image)
		loc.PhysicalLocation.Region.StartLine = 1
		loc.Message = sarifText{Text: s.Image + ": " + f.PURL}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	return sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
}
