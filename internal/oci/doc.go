// Package oci is the leaf of Berth's dependency graph: media types, the
// grammar of repository names, tags and digests, and the one table that maps
// OCI error codes to HTTP statuses. Server and client share it so an error
// travels the wire and comes back as the same value.
package oci
