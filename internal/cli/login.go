package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/access/oidc"
	"github.com/berth-registry/berth/internal/oci"
)

// loginOpts are the flags of berth login --oidc.
type loginOpts struct {
	registry, issuer, clientID, dockerConfig, callback string
	oidc                                               bool
	timeout                                            time.Duration
}

func newLogin() *cobra.Command {
	var o loginOpts
	cmd := &cobra.Command{
		Use:   "login --oidc --issuer URL --client-id ID",
		Short: "Log in to a Berth server through its OpenID Connect issuer and store a docker identity token",
		Long: `Log in with your organisation's identity provider (authorization code with
PKCE, redirected back to a listener on 127.0.0.1): open the URL printed, log
in, and berth trades the ID token at the server's /token endpoint for a
refresh token, which it stores as the identity token of the registry in the
docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json). docker,
crane, oras and skopeo then log in with it; it ends when your Berth
account's password changes or the account is disabled. The account named by
the server's auth.oidc.username_claim (by default your verified email) must
exist. See docs/access.md#oidc-login.`,
		Example: `  berth login --oidc --registry https://registry.example --issuer https://id.example --client-id berth`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.oidc || o.issuer == "" || o.clientID == "" {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("give --oidc, --issuer and --client-id")}
			}
			return runOIDCLogin(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registryFlag(cmd, &o.registry)
	fl := cmd.Flags()
	fl.BoolVar(&o.oidc, "oidc", false, "log in through the OpenID Connect issuer")
	fl.StringVar(&o.issuer, "issuer", os.Getenv("BERTH_OIDC_ISSUER"), "issuer URL, as the server's auth.oidc.issuer (env BERTH_OIDC_ISSUER)")
	fl.StringVar(&o.clientID, "client-id", os.Getenv("BERTH_OIDC_CLIENT_ID"), "public client ID allowing loopback redirects (env BERTH_OIDC_CLIENT_ID)")
	fl.StringVar(&o.dockerConfig, "docker-config", "", "directory of the docker config to write (default $DOCKER_CONFIG or ~/.docker)")
	fl.StringVar(&o.callback, "callback-addr", "127.0.0.1:0", "loopback address of the redirect listener; a fixed port for issuers that need the redirect URI registered")
	fl.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the browser login")
	return cmd
}

func runOIDCLogin(ctx context.Context, o loginOpts, stdout, stderr io.Writer) error {
	reg, err := url.Parse(o.registry)
	if err != nil || reg.Host == "" {
		return fmt.Errorf("--registry %q: want a URL such as https://registry.example", o.registry)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	p, err := oidc.Discover(ctx, oidc.Config{Issuer: o.issuer, ClientID: o.clientID})
	if err != nil {
		return err
	}
	id, raw, err := oidc.LoopbackLogin(ctx, p, o.callback, func(u string) {
		fmt.Fprintf(stderr, "Open this URL in a browser to log in:\n\n  %s\n\n", u)
	})
	if err != nil {
		return err
	}
	refresh, err := exchangeIDToken(ctx, strings.TrimSuffix(o.registry, "/"), raw)
	if err != nil {
		return err
	}
	path, err := storeIdentityToken(o.dockerConfig, reg.Host, refresh)
	if err != nil {
		return err
	}
	who := id.Email
	if who == "" {
		who = id.Subject
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s; identity token stored in %s\n", reg.Host, who, path)
	return nil
}

// exchangeIDToken trades an ID token for a Berth refresh token.
func exchangeIDToken(ctx context.Context, base, idToken string) (string, error) {
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {idToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}, "access_type": {"offline"}, "client_id": {"berth-cli"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchanging the ID token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return "", fmt.Errorf("exchanging the ID token: %w", err)
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.RefreshToken == "" {
		if es := oci.DecodeErrors(resp.StatusCode, b); es != nil {
			return "", fmt.Errorf("the registry refused the login: %s (%d)", es.Errors[0].Message, resp.StatusCode)
		}
		return "", fmt.Errorf("the registry refused the login: %s", resp.Status)
	}
	return out.RefreshToken, nil
}

// storeIdentityToken writes the identity token for host into the docker
// config, keeping everything else in it, with mode 0600.
func storeIdentityToken(dir, host, tok string) (string, error) {
	if dir == "" {
		dir = os.Getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".docker")
	}
	path := filepath.Join(dir, "config.json")
	cfg := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	auths, _ := cfg["auths"].(map[string]any)
	if auths == nil {
		auths = map[string]any{}
	}
	// docker stores the user name "<token>" beside an identity token.
	auths[host] = map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte("<token>:")), "identitytoken": tok}
	cfg["auths"] = auths
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
