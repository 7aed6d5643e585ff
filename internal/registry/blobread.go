package registry

import "context"

// checkBlobRead refuses a blob GET or HEAD in a repository whose lock has
// read-enabled=false. Without it a client that learnt the layer digests
// (from an earlier pull, a build log, another repository) could still
// read a read-locked repository's content. Locks on a tag or a digest are
// not consulted here: finding which manifests reference a blob would cost
// a query per blob, and the manifest GET they need first is refused.
func (r *Registry) checkBlobRead(ctx context.Context, repo string) error {
	ls, err := r.locks(ctx, repo, false)
	if err != nil || ls == nil {
		return err
	}
	return refusal(ls.CheckRepoRead())
}
