// Package match finds the advisories of a vulndb snapshot that affect the
// packages of an image inventory.
//
// For each package it picks the OSV ecosystem from the package type and the
// image's operating system (a dpkg package on Debian 12 is looked up as
// "Debian" and kept only for advisories of release "12"), looks the package
// up in the snapshot's index, and evaluates each advisory's ranges with the
// ecosystem's own version order (dpkg, apk, rpm, Go module semver, npm
// semver, PEP 440, Maven). Distribution advisories are per source package,
// so dpkg and apk packages are matched by their source name and version.
//
// Matching reads the snapshot and the inventory only, so a new database
// version re-matches stored inventories without reading any layer.
package match
