package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/policy"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// previewRows bounds the rows a preview lists: the summary counts
// everything, the table is for reading.
const previewRows = 200

// partialHeader asks for the preview alone, not the whole page: app.js
// sends it when it swaps the preview in place.
const partialHeader = "X-Berth-Partial"

// policyForm is the policy editor's fields as typed, so that a refused
// form comes back as the user left it.
type policyForm struct {
	Name, Schedule                         string
	Enabled                                bool
	Repos, ReposExclude, Tags, TagsExclude string
	Keep, OlderThan, MaxTags               string
	UntaggedOlderThan, PulledWithin        string
	Editing                                bool // an existing policy: the name is fixed
}

// policyRow is a stored policy with its newest run.
type policyRow struct {
	metadata.RetentionPolicy
	Summary string
	LastRun *metadata.RetentionRun
}

// previewRow is one deletion a preview lists.
type previewRow struct {
	Repo, Kind, Ref, Reason string
	Bytes                   int64
}

type preview struct {
	Summary retention.Summary
	Rows    []previewRow
	More    int
	Error   string
}

type policiesData struct {
	Notice     notice
	Policies   []policyRow
	Form       policyForm
	Preview    *preview
	Locks      []metadata.Lock
	Rules      []metadata.ImmutableRule
	Gates      []metadata.GatePolicy
	Exceptions []metadata.GateException
	Now        time.Time
	HasGuards  bool
	HasGates   bool
}

func (u *UI) policiesPage(w http.ResponseWriter, r *http.Request) {
	f := policyForm{Enabled: true, Keep: "3", OlderThan: "30d", Repos: ".*"}
	if name := r.URL.Query().Get("edit"); name != "" && u.opts.Manage.Policies != nil {
		p, err := u.opts.Manage.Policies.RetentionPolicy(r.Context(), name)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if f, err = formOf(p); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	u.renderPolicies(w, r, notice{}, f, nil)
}

// renderPolicies renders the whole page around a notice, the editor's
// fields and, if one was asked for, a preview.
func (u *UI) renderPolicies(w http.ResponseWriter, r *http.Request, n notice, f policyForm, pv *preview) {
	ctx := r.Context()
	m := u.opts.Manage
	d := policiesData{Notice: n, Form: f, Preview: pv, Now: time.Now(), HasGuards: m.Guards != nil, HasGates: m.Gates != nil}
	var err error
	if m.Policies != nil {
		var all []metadata.RetentionPolicy
		if all, err = m.Policies.ListRetentionPolicies(ctx); err != nil {
			u.fail(w, r, err)
			return
		}
		for _, p := range all {
			row := policyRow{RetentionPolicy: p, Summary: summarizePolicy(p)}
			runs, err := m.Policies.RetentionRuns(ctx, p.Name, 1)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			if len(runs) > 0 {
				row.LastRun = &runs[0]
			}
			d.Policies = append(d.Policies, row)
		}
	}
	if m.Guards != nil {
		if d.Locks, err = m.Guards.ListLocks(ctx, ""); err == nil {
			d.Rules, err = m.Guards.ListImmutableRules(ctx)
		}
	}
	if err == nil && m.Gates != nil {
		if d.Gates, err = m.Gates.ListGates(ctx); err == nil {
			d.Exceptions, err = m.Gates.ListGateExceptions(ctx)
		}
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, n.status(), page{template: "policies", nav: "policies", data: d})
}

// policyPreview plans the policy in the form without storing anything.
// With the partial header it answers the preview fragment alone.
func (u *UI) policyPreview(w http.ResponseWriter, r *http.Request) {
	f := readPolicyForm(r)
	pv := u.plan(r, f)
	if r.Header.Get(partialHeader) != "" {
		u.renderPartial(w, r, "policies", "preview", pv)
		return
	}
	u.renderPolicies(w, r, notice{}, f, pv)
}

func (u *UI) plan(r *http.Request, f policyForm) *preview {
	pol, err := f.policy()
	if err != nil {
		return &preview{Error: err.Error()}
	}
	if u.opts.Manage.Planner == nil {
		return &preview{Error: "retention is not available on this server"}
	}
	plan, err := retention.BuildPlan(r.Context(), u.opts.Manage.Planner, pol, time.Now())
	if err != nil {
		return &preview{Error: err.Error()}
	}
	pv := &preview{Summary: plan.Summary}
	add := func(row previewRow) {
		if len(pv.Rows) < previewRows {
			pv.Rows = append(pv.Rows, row)
		} else {
			pv.More++
		}
	}
	for _, rp := range plan.Repositories {
		for _, t := range rp.Tags {
			if t.Delete {
				add(previewRow{Repo: rp.Name, Kind: "tag", Ref: t.Name, Reason: t.Reason})
			}
		}
		for _, m := range rp.Manifests {
			if m.Delete {
				add(previewRow{Repo: rp.Name, Kind: "manifest", Ref: shortDigest(m.Digest), Reason: m.Reason, Bytes: m.Size})
			}
		}
	}
	return pv
}

// policySave validates and stores the policy, as PUT /api/v1/policies
// does; a refused policy comes back with the reason and a preview of
// nothing.
func (u *UI) policySave(w http.ResponseWriter, r *http.Request) {
	f := readPolicyForm(r)
	err := u.savePolicy(acting(r), f)
	n := noticeOf(fmt.Sprintf("Policy %s saved.", f.Name), err)
	if err == nil {
		f.Editing = true
	}
	u.renderPolicies(w, r, n, f, nil)
}

func (u *UI) savePolicy(r *http.Request, f policyForm) error {
	if u.opts.Manage.Policies == nil {
		return errors.New("retention policies are not available on this server")
	}
	pol, err := f.policy()
	if err != nil {
		return err
	}
	if err := policy.Validate(f.Name, f.Schedule, pol); err != nil {
		return err
	}
	pol.Name = ""
	raw, err := json.Marshal(pol)
	if err != nil {
		return err
	}
	return u.opts.Manage.Policies.PutRetentionPolicy(r.Context(),
		metadata.RetentionPolicy{Name: f.Name, Policy: raw, Schedule: f.Schedule, Enabled: f.Enabled})
}

func (u *UI) policyDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	err := errors.New("retention policies are not available on this server")
	if u.opts.Manage.Policies != nil {
		err = u.opts.Manage.Policies.DeleteRetentionPolicy(acting(r).Context(), name)
	}
	u.renderPolicies(w, r, noticeOf(fmt.Sprintf("Policy %s deleted.", name), err), policyForm{Enabled: true}, nil)
}

func readPolicyForm(r *http.Request) policyForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return policyForm{
		Name: v("name"), Schedule: v("schedule"), Enabled: v("enabled") != "",
		Repos: v("repos"), ReposExclude: v("repos_exclude"), Tags: v("tags"), TagsExclude: v("tags_exclude"),
		Keep: v("keep"), OlderThan: v("older_than"), MaxTags: v("max_tags"),
		UntaggedOlderThan: v("untagged_older_than"), PulledWithin: v("pulled_within"),
		Editing: v("editing") != "",
	}
}

// policy builds the retention policy the fields describe; an empty
// field leaves its rule off.
func (f policyForm) policy() (*retention.Policy, error) {
	p := &retention.Policy{Name: f.Name,
		Repositories: retention.Selector{Include: fields(f.Repos), Exclude: fields(f.ReposExclude)},
		Tags:         retention.Selector{Include: fields(f.Tags), Exclude: fields(f.TagsExclude)}}
	var err error
	num := func(field, s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s: want a whole number, not %q", field, s)
		}
		return n, nil
	}
	dur := func(field, s string) (*retention.Duration, error) {
		d, err := retention.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return &d, nil
	}
	if f.Keep != "" {
		if p.Keep, err = num("keep", f.Keep); err != nil {
			return nil, err
		}
	}
	if f.MaxTags != "" {
		n, err := num("max tags", f.MaxTags)
		if err != nil {
			return nil, err
		}
		p.MaxTags = &n
	}
	if f.OlderThan != "" {
		if p.OlderThan, err = dur("older than", f.OlderThan); err != nil {
			return nil, err
		}
	}
	if f.UntaggedOlderThan != "" {
		if p.UntaggedOlderThan, err = dur("untagged older than", f.UntaggedOlderThan); err != nil {
			return nil, err
		}
	}
	if f.PulledWithin != "" {
		d, err := dur("pulled within", f.PulledWithin)
		if err != nil {
			return nil, err
		}
		p.PulledWithin = *d
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// formOf fills the editor from a stored policy.
func formOf(stored *metadata.RetentionPolicy) (policyForm, error) {
	p, err := policy.Decode(stored.Name, stored.Policy)
	if err != nil {
		return policyForm{}, err
	}
	f := policyForm{Name: stored.Name, Schedule: stored.Schedule, Enabled: stored.Enabled, Editing: true,
		Repos: strings.Join(p.Repositories.Include, " "), ReposExclude: strings.Join(p.Repositories.Exclude, " "),
		Tags: strings.Join(p.Tags.Include, " "), TagsExclude: strings.Join(p.Tags.Exclude, " ")}
	if p.Keep > 0 {
		f.Keep = strconv.Itoa(p.Keep)
	}
	if p.MaxTags != nil {
		f.MaxTags = strconv.Itoa(*p.MaxTags)
	}
	if p.OlderThan != nil {
		f.OlderThan = p.OlderThan.String()
	}
	if p.UntaggedOlderThan != nil {
		f.UntaggedOlderThan = p.UntaggedOlderThan.String()
	}
	if p.PulledWithin > 0 {
		f.PulledWithin = p.PulledWithin.String()
	}
	return f, nil
}

// summarizePolicy is a policy's rules in one line for the list.
func summarizePolicy(stored metadata.RetentionPolicy) string {
	f, err := formOf(&stored)
	if err != nil {
		return "invalid: " + err.Error()
	}
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+" "+v)
		}
	}
	add("repositories", f.Repos)
	add("tags", f.Tags)
	add("keep", f.Keep)
	add("older than", f.OlderThan)
	add("max tags", f.MaxTags)
	add("untagged older than", f.UntaggedOlderThan)
	add("pulled within", f.PulledWithin)
	return strings.Join(parts, "; ")
}
