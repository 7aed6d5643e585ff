package authn

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/oci"
)

// TokenEndpoint serves GET /token, the registry token endpoint of the
// Docker token specification: Basic credentials (or none, for anonymous
// access) and ?scope=… in, a signed token granting the intersection of
// the scopes asked for and what the account may do out.
type TokenEndpoint struct {
	Auth   *Authenticator
	Issuer *token.Issuer
	Policy authz.Policy
	TTL    time.Duration
	Log    *slog.Logger
}

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

func (t *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		oci.WriteError(w, oci.Errorf(oci.CodeUnsupported, "the token endpoint answers GET"))
		return
	}
	if len(r.URL.RawQuery) > 16<<10 {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "query too long").WithStatus(http.StatusBadRequest))
		return
	}
	requested, err := token.ParseScopes(r.URL.Query()["scope"])
	if err != nil {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(http.StatusBadRequest))
		return
	}
	var p *authz.Principal
	if _, _, basic := r.BasicAuth(); basic || r.Header.Get("Authorization") == "" {
		p, err = t.Auth.Authenticate(r)
	} else {
		err = errors.New("the token endpoint takes Basic credentials or none")
	}
	if err != nil {
		if !errors.Is(err, ErrCredentials) {
			t.Log.ErrorContext(r.Context(), "token endpoint", "err", err)
			oci.WriteError(w, err)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
		oci.WriteError(w, oci.Errorf(oci.CodeUnauthorized, "authentication required"))
		return
	}
	granted := t.Policy.Grant(p.Grants, requested)
	tok, err := t.Issuer.Issue(p.Name, granted, t.TTL)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	body, _ := json.Marshal(tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(t.TTL / time.Second),
		IssuedAt: time.Now().UTC().Format(time.RFC3339)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
