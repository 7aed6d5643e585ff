package ui

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// The Policies page's other sections: locks, immutability rules, scan
// gates and CVE exceptions. Each action validates like its API endpoint
// (internal/api lifecycle.go and gates.go) and renders the page again
// with what happened.

// maxPattern bounds an immutability rule's pattern, as the API does.
const maxPattern = 1024

var errUnavailable = errors.New("not available on this server")

// guardAction runs fn as the viewer and renders the Policies page with
// its outcome.
func (u *UI) guardAction(fn func(r *http.Request) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok, err := fn(acting(r))
		u.renderPolicies(w, r, noticeOf(ok, err), policyForm{Enabled: true}, nil)
	}
}

func formLock(r *http.Request) (metadata.Lock, error) {
	l := metadata.Lock{Repo: strings.TrimSpace(r.PostFormValue("repository")), Tag: strings.TrimSpace(r.PostFormValue("tag")),
		Digest: digest.Digest(strings.TrimSpace(r.PostFormValue("digest")))}
	if !oci.ValidName(l.Repo) || (l.Tag != "" && !oci.ValidTag(l.Tag)) || (l.Tag != "" && l.Digest != "") || (l.Digest != "" && l.Digest.Validate() != nil) {
		return l, errors.New("a lock needs a valid repository and at most one valid tag or digest")
	}
	return l, nil
}

func lockName(l metadata.Lock) string {
	switch {
	case l.Tag != "":
		return l.Repo + ":" + l.Tag
	case l.Digest != "":
		return l.Repo + "@" + l.Digest.String()
	}
	return l.Repo
}

func (u *UI) lockSet(r *http.Request) (string, error) {
	if u.opts.Manage.Guards == nil {
		return "", errUnavailable
	}
	l, err := formLock(r)
	if err != nil {
		return "", err
	}
	// Each box says what the lock forbids; the store keeps what it allows.
	l.WriteEnabled = r.PostFormValue("no_write") == ""
	l.DeleteEnabled = r.PostFormValue("no_delete") == ""
	l.ReadEnabled = r.PostFormValue("no_read") == ""
	if l.WriteEnabled && l.DeleteEnabled && l.ReadEnabled {
		return "", errors.New("a lock must forbid at least one of write, delete or read")
	}
	return "Locked " + lockName(l) + ".", u.opts.Manage.Guards.SetLock(r.Context(), l)
}

func (u *UI) lockClear(r *http.Request) (string, error) {
	if u.opts.Manage.Guards == nil {
		return "", errUnavailable
	}
	l, err := formLock(r)
	if err != nil {
		return "", err
	}
	return "Unlocked " + lockName(l) + ".", u.opts.Manage.Guards.ClearLock(r.Context(), l.Repo, l.Tag, l.Digest)
}

func (u *UI) ruleAdd(r *http.Request) (string, error) {
	if u.opts.Manage.Guards == nil {
		return "", errUnavailable
	}
	in := metadata.ImmutableRule{Repos: strings.TrimSpace(r.PostFormValue("repos")), Tags: strings.TrimSpace(r.PostFormValue("tags"))}
	for _, p := range []string{in.Repos, in.Tags} {
		if p == "" || len(p) > maxPattern {
			return "", fmt.Errorf("repositories and tags patterns are required (at most %d bytes)", maxPattern)
		}
		if _, err := regexp.Compile(p); err != nil {
			return "", fmt.Errorf("pattern %.100q: %w", p, err)
		}
	}
	rule, err := u.opts.Manage.Guards.AddImmutableRule(r.Context(), in)
	return fmt.Sprintf("Immutability rule %d added.", rule.ID), err
}

func (u *UI) ruleDelete(r *http.Request) (string, error) {
	if u.opts.Manage.Guards == nil {
		return "", errUnavailable
	}
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return "", errors.New("id: want a rule number")
	}
	return fmt.Sprintf("Immutability rule %d removed.", id), u.opts.Manage.Guards.DeleteImmutableRule(r.Context(), id)
}

func (u *UI) gateSet(r *http.Request) (string, error) {
	if u.opts.Manage.GateService == nil {
		return "", errUnavailable
	}
	p := metadata.GatePolicy{Pattern: strings.TrimSpace(r.PostFormValue("pattern")), Quarantine: r.PostFormValue("quarantine") != "",
		Severity: r.PostFormValue("severity"), Unscanned: r.PostFormValue("unscanned"), Unknown: r.PostFormValue("unknown")}
	_, err := u.opts.Manage.GateService.SetPolicy(r.Context(), p)
	return "Gate " + p.Pattern + " saved.", err
}

func (u *UI) gateDelete(r *http.Request) (string, error) {
	if u.opts.Manage.GateService == nil {
		return "", errUnavailable
	}
	pattern := r.PostFormValue("pattern")
	return "Gate " + pattern + " removed.", u.opts.Manage.GateService.DeletePolicy(r.Context(), pattern)
}

// exceptionAdd allows a CVE despite the gates of a pattern. A reason is
// required: an exception is a decision someone has to be able to read
// back. The expiry is a date (the end of that day, UTC) or empty.
func (u *UI) exceptionAdd(r *http.Request) (string, error) {
	if u.opts.Manage.GateService == nil {
		return "", errUnavailable
	}
	e := metadata.GateException{Pattern: strings.TrimSpace(r.PostFormValue("pattern")), ID: strings.TrimSpace(r.PostFormValue("id")),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if e.Reason == "" {
		return "", errors.New("reason: required")
	}
	if s := strings.TrimSpace(r.PostFormValue("expires")); s != "" {
		day, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return "", errors.New("expires: want a date, YYYY-MM-DD")
		}
		e.Expires = day.Add(24*time.Hour - time.Second).UTC()
	}
	return "Exception for " + e.ID + " added.", u.opts.Manage.GateService.AddException(r.Context(), e)
}

func (u *UI) exceptionDelete(r *http.Request) (string, error) {
	if u.opts.Manage.GateService == nil {
		return "", errUnavailable
	}
	pattern, id := r.PostFormValue("pattern"), r.PostFormValue("id")
	return "Exception for " + id + " removed.", u.opts.Manage.GateService.DeleteException(r.Context(), pattern, id)
}
