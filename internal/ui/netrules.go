package ui

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access/netrule"
)

// networkRulesSet replaces the network rules in force, or (clear) goes
// back to the configuration file's, as PUT and DELETE
// /api/v1/network-rules do: rules that would refuse the viewer's own
// address are refused unless "force" is ticked.
func (u *UI) networkRulesSet(w http.ResponseWriter, r *http.Request) {
	r = acting(r)
	svc := u.opts.Manage.NetworkRules
	err := func() error {
		if svc == nil {
			return errUnavailable
		}
		var rules *netrule.Rules
		if r.PostFormValue("clear") == "" {
			spec := netrule.Spec{DefaultAction: r.PostFormValue("default_action"), Allow: fields(r.PostFormValue("allow")),
				Deny: fields(r.PostFormValue("deny")), TrustedProxies: fields(r.PostFormValue("trusted_proxies"))}
			var err error
			if rules, err = spec.Rules(); err != nil {
				return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
		}
		if r.PostFormValue("force") == "" {
			check := rules
			if check == nil {
				check = svc.ConfiguredNetworkRules()
			}
			if ip := netrule.ClientIP(r, check.TrustedProxies); check.Decide(ip) != netrule.Allow {
				return fmt.Errorf("these rules would refuse your own address (%s) and lock you out; add it to allow, or tick force", ip)
			}
		}
		_, err := svc.SetNetworkRules(r, rules)
		return err
	}()
	u.renderAccess(w, r, &accessData{Notice: noticeOf("Network rules updated.", err)})
}
