package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
)

// deliveriesShown is how many recent deliveries each webhook lists.
const deliveriesShown = 5

type webhookRow struct {
	metadata.Webhook
	Deliveries []metadata.WebhookDelivery
}

type accessData struct {
	Notice   notice
	Users    []metadata.User
	Tokens   []manage.Token
	Created  *manage.Secrets // a token just created: its secret, shown once
	Password *createdUser    // an account just created with a generated password
	Rules    *api.NetworkRuleSet
	Webhooks []webhookRow
	Audit    auditView
	Has      struct{ Users, Tokens, Rules, Webhooks, Audit bool }
}

type createdUser struct{ Name, Password string }

func (u *UI) accessPage(w http.ResponseWriter, r *http.Request) {
	u.renderAccess(w, r, &accessData{})
}

// renderAccess fills d with every section and renders it; d may carry a
// notice and what an action created.
func (u *UI) renderAccess(w http.ResponseWriter, r *http.Request, d *accessData) {
	ctx := r.Context()
	m := u.opts.Manage
	v := viewerFrom(ctx)
	var err error
	d.Has.Users, d.Has.Tokens, d.Has.Rules, d.Has.Webhooks, d.Has.Audit =
		m.Users != nil && !v.AuthOff(), m.Tokens != nil && v.principal != nil, m.NetworkRules != nil, m.Webhooks != nil, m.AuditLog != nil
	if d.Has.Users {
		if d.Users, err = m.Users.ListUsers(ctx); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	if d.Has.Tokens {
		if d.Tokens, err = m.Tokens.List(ctx, v.principal); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	if d.Has.Rules {
		set, err := m.NetworkRules.NetworkRules(ctx)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Rules = &set
	}
	if d.Has.Webhooks {
		hooks, err := m.Webhooks.List(ctx)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		for _, h := range hooks {
			ds, err := m.Webhooks.Deliveries(ctx, h.Name, deliveriesShown)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			d.Webhooks = append(d.Webhooks, webhookRow{Webhook: h, Deliveries: ds})
		}
	}
	if d.Has.Audit {
		if d.Audit, err = u.auditLog(r); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	u.render(w, r, d.Notice.status(), page{template: "access", nav: "access", data: d})
}

// userAdd creates a local account like `berth user add`: a blank
// password is generated and shown once.
func (u *UI) userAdd(w http.ResponseWriter, r *http.Request) {
	r = acting(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	d := &accessData{}
	err := func() error {
		if u.opts.Manage.Users == nil {
			return errUnavailable
		}
		if err := authn.ValidUserName(name); err != nil {
			return err
		}
		grants := []metadata.Grant{}
		for _, s := range fields(r.PostFormValue("grants")) {
			g, err := authz.ParseGrant(s)
			if err != nil {
				return err
			}
			grants = append(grants, g)
		}
		pw := r.PostFormValue("password")
		if pw == "" {
			var err error
			if pw, err = authn.GeneratePassword(); err != nil {
				return err
			}
			d.Password = &createdUser{Name: name, Password: pw}
		} else if err := authn.CheckPassword(pw); err != nil {
			return err
		}
		hash, err := authn.HashPassword(pw)
		if err != nil {
			return err
		}
		return u.opts.Manage.Users.CreateUser(r.Context(), &metadata.User{Name: name, PasswordHash: hash, Grants: grants})
	}()
	u.audit(r, "user.create", name, err)
	if err != nil {
		d.Password = nil
	}
	d.Notice = noticeOf("Account "+name+" created.", err)
	u.renderAccess(w, r, d)
}

// userDisable disables or enables an account; signing oneself out of
// the registry for good is refused.
func (u *UI) userDisable(w http.ResponseWriter, r *http.Request) {
	r = acting(r)
	name, disable := r.PostFormValue("name"), r.PostFormValue("disable") != ""
	action := map[bool]string{true: "user.disable", false: "user.enable"}[disable]
	err := func() error {
		if u.opts.Manage.Users == nil {
			return errUnavailable
		}
		if disable && name == viewerFrom(r.Context()).Name() {
			return errors.New("you cannot disable your own account")
		}
		acct, err := u.opts.Manage.Users.User(r.Context(), name)
		if err != nil {
			return err
		}
		acct.Disabled = disable
		return u.opts.Manage.Users.UpdateUser(r.Context(), acct)
	}()
	u.audit(r, action, name, err)
	verb := map[bool]string{true: "disabled", false: "enabled"}[disable]
	u.renderAccess(w, r, &accessData{Notice: noticeOf(fmt.Sprintf("Account %s %s.", name, verb), err)})
}

// tokenCreate creates a scoped token owned by the viewer; its password
// is in this one response and never again.
func (u *UI) tokenCreate(w http.ResponseWriter, r *http.Request) {
	r = acting(r)
	req := manage.CreateRequest{Name: strings.TrimSpace(r.PostFormValue("name")), CIDRs: fields(r.PostFormValue("cidrs")),
		Expires: strings.TrimSpace(r.PostFormValue("expires"))}
	d := &accessData{}
	err := func() error {
		if u.opts.Manage.Tokens == nil {
			return errUnavailable
		}
		for _, s := range strings.Fields(r.PostFormValue("grants")) {
			g, err := authz.ParseTokenGrant(s)
			if err != nil {
				return err
			}
			req.Grants = append(req.Grants, g)
		}
		out, err := u.opts.Manage.Tokens.Create(r.Context(), viewerFrom(r.Context()).principal, req)
		if err == nil {
			d.Created = &out
		}
		return err
	}()
	u.audit(r, "token.create", req.Name, err)
	d.Notice = noticeOf("Token "+req.Name+" created. Copy its password now: it is not shown again.", err)
	u.renderAccess(w, r, d)
}

// tokenChange disables, enables or revokes (deletes) a token.
func (u *UI) tokenChange(w http.ResponseWriter, r *http.Request) {
	r = acting(r)
	name, verb := r.PostFormValue("name"), r.PostFormValue("action")
	p := viewerFrom(r.Context()).principal
	var err error
	switch {
	case u.opts.Manage.Tokens == nil:
		err = errUnavailable
	case verb == "disable" || verb == "enable":
		_, err = u.opts.Manage.Tokens.SetDisabled(r.Context(), p, name, verb == "disable")
	case verb == "delete":
		err = u.opts.Manage.Tokens.Delete(r.Context(), p, name)
	default:
		err = fmt.Errorf("action %q: want disable, enable or delete", verb)
		verb = "unknown"
	}
	u.audit(r, "token."+verb, name, err)
	done := map[string]string{"disable": "disabled", "enable": "enabled", "delete": "revoked"}[verb]
	u.renderAccess(w, r, &accessData{Notice: noticeOf(fmt.Sprintf("Token %s %s.", name, done), err)})
}
