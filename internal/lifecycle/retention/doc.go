// Package retention decides which tags and manifests of a registry to delete
// and deletes them.
//
// It is pure logic over two small interfaces so that the same engine runs
// against Berth's own metadata store and against other registries: a Source
// lists repositories, tags and manifests; a Deleter removes them. Plan
// evaluates a Policy into a Plan that records, for every tag and manifest,
// whether it is kept or deleted and the rule that decided. Apply carries a
// Plan out with bounded concurrency, re-checking every tag just before it is
// deleted so that a tag pushed or moved after planning always survives.
//
// The unit of deletion is explicit: deleting a tag removes only the tag; a
// manifest is deleted when no tag is left on it and no rule protects it, and
// its referrers (signatures, SBOMs, attestations) and the untagged children
// of an index go with it unless something else keeps them.
package retention
