package report

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// CycloneDX 1.5 JSON, the subset an image SBOM with vulnerabilities needs.
type cdxBOM struct {
	BOMFormat       string    `json:"bomFormat"`
	SpecVersion     string    `json:"specVersion"`
	SerialNumber    string    `json:"serialNumber"`
	Version         int       `json:"version"`
	Metadata        cdxMeta   `json:"metadata"`
	Components      []cdxComp `json:"components"`
	Dependencies    []cdxDep  `json:"dependencies,omitempty"`
	Vulnerabilities []cdxVuln `json:"vulnerabilities"`
}

type cdxMeta struct {
	Timestamp  string    `json:"timestamp"`
	Tools      cdxTools  `json:"tools"`
	Component  cdxComp   `json:"component"`
	Properties []cdxProp `json:"properties,omitempty"`
}

type cdxTools struct {
	Components []cdxComp `json:"components"`
}

type cdxProp struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxComp struct {
	BOMRef     string    `json:"bom-ref,omitempty"`
	Type       string    `json:"type"`
	Name       string    `json:"name"`
	Version    string    `json:"version,omitempty"`
	PURL       string    `json:"purl,omitempty"`
	Properties []cdxProp `json:"properties,omitempty"`
}

type cdxDep struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

type cdxVuln struct {
	ID             string      `json:"id"`
	Source         cdxSource   `json:"source"`
	Ratings        []cdxRating `json:"ratings"`
	Description    string      `json:"description,omitempty"`
	Detail         string      `json:"detail,omitempty"`
	Recommendation string      `json:"recommendation,omitempty"`
	Advisories     []cdxURL    `json:"advisories,omitempty"`
	Affects        []cdxRef    `json:"affects"`
	Properties     []cdxProp   `json:"properties,omitempty"`
}

type cdxSource struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

type cdxRating struct {
	Score    float64 `json:"score,omitempty"`
	Severity string  `json:"severity"`
	Method   string  `json:"method,omitempty"`
	Vector   string  `json:"vector,omitempty"`
}

type cdxURL struct {
	URL string `json:"url"`
}

type cdxRef struct {
	Ref string `json:"ref"`
}

// bomRefs gives every package a unique reference: its purl, with the file
// appended when the same purl was found twice (one module in two binaries).
func bomRefs(pkgs []inventory.Package) []string {
	refs := make([]string, len(pkgs))
	seen := map[string]int{}
	for i, p := range pkgs {
		seen[p.PURL]++
		refs[i] = p.PURL
		if seen[p.PURL] > 1 {
			refs[i] = fmt.Sprintf("%s#%s", p.PURL, p.Path)
		}
	}
	return refs
}

func cdxMethod(vector string) string {
	switch {
	case strings.HasPrefix(vector, "CVSS:4"):
		return "CVSSv4"
	case strings.HasPrefix(vector, "CVSS:3.1"):
		return "CVSSv31"
	case strings.HasPrefix(vector, "CVSS:3"):
		return "CVSSv3"
	}
	return ""
}

func cyclonedxBOM(s *Scan) cdxBOM {
	imageRef := "image:" + cmp.Or(s.Digest, s.ConfigDigest, s.Image)
	bom := cdxBOM{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", SerialNumber: "urn:uuid:" + stableUUID(s), Version: 1,
		Metadata: cdxMeta{
			Timestamp: s.Created.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []cdxComp{{Type: "application", Name: "berth", Version: s.ToolVersion}}},
			Component: cdxComp{BOMRef: imageRef, Type: "container", Name: s.Image, Version: s.Digest},
			Properties: []cdxProp{
				{Name: "berth:scan:status", Value: string(statusOf(s))},
				{Name: "berth:vulndb:version", Value: s.DBVersion},
			},
		},
		Components:      []cdxComp{},
		Vulnerabilities: []cdxVuln{},
	}
	for _, r := range reasons(s) {
		bom.Metadata.Properties = append(bom.Metadata.Properties, cdxProp{Name: "berth:scan:partial-reason", Value: r})
	}
	pkgs := packages(s)
	refs := bomRefs(pkgs)
	dep := cdxDep{Ref: imageRef, DependsOn: []string{}}
	byPURL := map[string]string{}
	for i, p := range pkgs {
		c := cdxComp{BOMRef: refs[i], Type: "library", Name: p.Name, Version: p.Version, PURL: p.PURL,
			Properties: []cdxProp{{Name: "berth:layer", Value: string(p.Layer)}, {Name: "berth:path", Value: p.Path}}}
		if p.SourceName != "" && p.SourceName != p.Name {
			c.Properties = append(c.Properties, cdxProp{Name: "berth:source", Value: p.SourceName + " " + p.SourceVersion})
		}
		bom.Components = append(bom.Components, c)
		dep.DependsOn = append(dep.DependsOn, refs[i])
		if _, ok := byPURL[p.PURL]; !ok {
			byPURL[p.PURL] = refs[i]
		}
	}
	bom.Dependencies = []cdxDep{dep}

	index := map[string]int{}
	for _, f := range s.Findings {
		ref := cmp.Or(byPURL[f.PURL], f.PURL)
		if i, ok := index[f.ID]; ok {
			bom.Vulnerabilities[i].Affects = append(bom.Vulnerabilities[i].Affects, cdxRef{Ref: ref})
			continue
		}
		index[f.ID] = len(bom.Vulnerabilities)
		v := cdxVuln{
			ID:          f.ID,
			Source:      cdxSource{Name: "OSV", URL: "https://osv.dev/vulnerability/" + f.ID},
			Ratings:     []cdxRating{{Score: f.CVSSScore, Severity: cdxSeverity(f.Severity), Method: cdxMethod(f.CVSSVector), Vector: f.CVSSVector}},
			Description: f.Summary,
			Detail:      f.Details,
			Affects:     []cdxRef{{Ref: ref}},
		}
		if len(f.FixedVersions) > 0 {
			v.Recommendation = fmt.Sprintf("Upgrade %s to %s", f.Package, strings.Join(f.FixedVersions, " or "))
		}
		for _, u := range f.References {
			v.Advisories = append(v.Advisories, cdxURL{URL: u})
		}
		if len(f.Aliases) > 0 {
			v.Properties = []cdxProp{{Name: "berth:aliases", Value: strings.Join(f.Aliases, ",")}}
		}
		bom.Vulnerabilities = append(bom.Vulnerabilities, v)
	}
	return bom
}

func cdxSeverity(s vulndb.Severity) string {
	if s == "" {
		return "unknown"
	}
	return strings.ToLower(string(s))
}

func statusOf(s *Scan) inventory.Status {
	if s.Partial() {
		return inventory.StatusPartial
	}
	return inventory.StatusComplete
}

// SPDX 2.3 JSON: the image as the described package, containing one
// package per inventory entry, each with its purl as an external ref.
type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      spdxCreation   `json:"creationInfo"`
	DocumentDescribes []string       `json:"documentDescribes"`
	Packages          []spdxPackage  `json:"packages"`
	Relationships     []spdxRelation `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

type spdxPackage struct {
	Name                  string       `json:"name"`
	SPDXID                string       `json:"SPDXID"`
	VersionInfo           string       `json:"versionInfo,omitempty"`
	DownloadLocation      string       `json:"downloadLocation"`
	FilesAnalyzed         bool         `json:"filesAnalyzed"`
	LicenseConcluded      string       `json:"licenseConcluded"`
	LicenseDeclared       string       `json:"licenseDeclared"`
	CopyrightText         string       `json:"copyrightText"`
	SourceInfo            string       `json:"sourceInfo,omitempty"`
	PrimaryPackagePurpose string       `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExtRef `json:"externalRefs,omitempty"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelation struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

func spdxDocument(s *Scan) spdxDoc {
	const noAssert = "NOASSERTION"
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: s.Image,
		DocumentNamespace: "https://berth-registry.github.io/spdx/" + stableUUID(s),
		CreationInfo:      spdxCreation{Created: s.Created.UTC().Format(time.RFC3339), Creators: []string{"Tool: " + toolName(s)}},
		DocumentDescribes: []string{"SPDXRef-Image"},
	}
	if s.Partial() {
		doc.CreationInfo.Comment = "PARTIAL inventory, packages may be missing: " + strings.Join(reasons(s), "; ")
	}
	doc.Packages = append(doc.Packages, spdxPackage{
		Name: s.Image, SPDXID: "SPDXRef-Image", VersionInfo: s.Digest, DownloadLocation: noAssert,
		LicenseConcluded: noAssert, LicenseDeclared: noAssert, CopyrightText: noAssert, PrimaryPackagePurpose: "CONTAINER",
	})
	doc.Relationships = append(doc.Relationships, spdxRelation{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"})
	for i, p := range packages(s) {
		id := fmt.Sprintf("SPDXRef-Package-%d", i+1)
		doc.Packages = append(doc.Packages, spdxPackage{
			Name: p.Name, SPDXID: id, VersionInfo: p.Version, DownloadLocation: noAssert,
			LicenseConcluded: noAssert, LicenseDeclared: noAssert, CopyrightText: noAssert,
			SourceInfo:   fmt.Sprintf("%s in layer %s", p.Path, p.Layer),
			ExternalRefs: []spdxExtRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: p.PURL}},
		})
		doc.Relationships = append(doc.Relationships, spdxRelation{"SPDXRef-Image", "CONTAINS", id})
	}
	return doc
}
