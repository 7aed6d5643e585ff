package remote

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// maxDockerConfig bounds the Docker config file and a helper's answer.
const maxDockerConfig = 4 << 20

// CredentialLookup says where ResolveCredential looks, in this order: the
// explicit values (flags), the environment variables UsernameEnv and
// PasswordEnv when named (a fleet file), for ACR an Azure AD access token
// in BERTH_<HOST>_AAD_TOKEN or BERTH_AAD_TOKEN, BERTH_<HOST>_USERNAME and
// BERTH_<HOST>_PASSWORD, BERTH_USERNAME and BERTH_PASSWORD, and the Docker
// config file with its credential helpers.
type CredentialLookup struct {
	Username, Password string
	UsernameEnv        string
	PasswordEnv        string
	// Env reads the environment; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// DockerConfig is the config file; "" means $DOCKER_CONFIG/config.json
	// or ~/.docker/config.json. "-" skips it.
	DockerConfig string
}

// ResolveCredential finds the credential for host (host[:port]) and says
// where it came from, for messages ("flags", "env BERTH_USERNAME", "docker
// config", "credential helper docker-credential-acr"); anonymous is the zero
// Credential from "anonymous".
func ResolveCredential(ctx context.Context, host string, l CredentialLookup) (Credential, string, error) {
	env := l.Env
	if env == nil {
		env = os.LookupEnv
	}
	get := func(name string) string {
		v, _ := env(name)
		return v
	}
	if l.Username != "" || l.Password != "" {
		return Credential{Username: l.Username, Password: l.Password}, "flags", nil
	}
	if l.UsernameEnv != "" || l.PasswordEnv != "" {
		c := Credential{Username: get(l.UsernameEnv), Password: get(l.PasswordEnv)}
		if c.Password == "" {
			return Credential{}, "", fmt.Errorf("credentials for %s: environment variable %q is empty or unset", host, l.PasswordEnv)
		}
		return c, "env " + l.PasswordEnv, nil
	}
	prefix := "BERTH_" + HostEnvName(host) + "_"
	if tok := cmp.Or(get(prefix+"AAD_TOKEN"), get("BERTH_AAD_TOKEN")); tok != "" && isACR(host) {
		// az account get-access-token --query accessToken: exchanged at
		// the registry for a refresh token.
		return Credential{AADAccessToken: tok}, "env AAD access token", nil
	}
	if p := get(prefix + "PASSWORD"); p != "" {
		return Credential{Username: get(prefix + "USERNAME"), Password: p}, "env " + prefix + "PASSWORD", nil
	}
	if p := get("BERTH_PASSWORD"); p != "" {
		return Credential{Username: get("BERTH_USERNAME"), Password: p}, "env BERTH_PASSWORD", nil
	}
	if l.DockerConfig == "-" {
		return Credential{}, "anonymous", nil
	}
	path := l.DockerConfig
	if path == "" {
		if d := get("DOCKER_CONFIG"); d != "" {
			path = filepath.Join(d, "config.json")
		} else if home := get("HOME"); home != "" {
			path = filepath.Join(home, ".docker", "config.json")
		} else {
			return Credential{}, "anonymous", nil
		}
	}
	c, from, err := fromDockerConfig(ctx, path, host, env)
	if err != nil {
		return Credential{}, "", err
	}
	return c, from, nil
}

// isACR reports whether host is an Azure Container Registry.
func isACR(host string) bool {
	h, _, _ := strings.Cut(strings.ToLower(host), ":")
	return strings.HasSuffix(h, ".azurecr.io")
}

// HostEnvName is host as it appears in BERTH_<HOST>_USERNAME: upper case,
// every character other than a letter or digit an underscore
// (myreg.azurecr.io → MYREG_AZURECR_IO).
func HostEnvName(host string) string {
	b := []byte(strings.ToUpper(host))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// dockerConfig is the part of Docker's config.json that holds credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
	CredHelpers map[string]string `json:"credHelpers"`
	CredsStore  string            `json:"credsStore"`
}

// fromDockerConfig reads path as docker login writes it. A missing file is
// anonymous, not an error.
func fromDockerConfig(ctx context.Context, path, host string, env func(string) (string, bool)) (Credential, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credential{}, "anonymous", nil
	}
	if err != nil {
		return Credential{}, "", fmt.Errorf("reading docker config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDockerConfig))
	if err != nil {
		return Credential{}, "", fmt.Errorf("reading docker config %s: %w", path, err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Credential{}, "", fmt.Errorf("docker config %s: %w", path, err)
	}
	if h, ok := cfg.CredHelpers[host]; ok && h != "" {
		return fromHelper(ctx, h, host, env)
	}
	for key, a := range cfg.Auths {
		if configHost(key) != host {
			continue
		}
		c := Credential{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credential{}, "", fmt.Errorf("docker config %s: auth of %s: %w", path, key, err)
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				return Credential{}, "", fmt.Errorf("docker config %s: auth of %s is not user:password", path, key)
			}
			c.Username, c.Password = u, p
		}
		if !c.Empty() {
			return c, "docker config " + path, nil
		}
	}
	if cfg.CredsStore != "" {
		return fromHelper(ctx, cfg.CredsStore, host, env)
	}
	return Credential{}, "anonymous", nil
}

// configHost reduces a key of auths to host[:port]: docker login writes
// "host", older versions "https://host/v1/".
func configHost(key string) string {
	k := key
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k, _, _ = strings.Cut(k, "/")
	if k == "index.docker.io" {
		return "registry-1.docker.io"
	}
	return k
}

// fromHelper runs docker-credential-<name> get with the server on stdin,
// as docker does. A helper that knows nothing of host is anonymous.
func fromHelper(ctx context.Context, name, host string, env func(string) (string, bool)) (Credential, string, error) {
	bin := "docker-credential-" + name
	from := "credential helper " + bin
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "get")
	if path, ok := env("PATH"); ok {
		// Tests and users point PATH at their helpers; exec.Command looked
		// the binary up in the process's PATH, so look again in ours.
		if p, err := lookPath(bin, path); err == nil {
			cmd.Path = p
			cmd.Err = nil
		}
	}
	cmd.Stdin = strings.NewReader(host)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitedBuffer{&out}, &limitedBuffer{&errb}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String() + " " + errb.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return Credential{}, "anonymous", nil
		}
		return Credential{}, "", fmt.Errorf("%s get %s: %w: %s", bin, host, err, trimBody([]byte(msg)))
	}
	var got struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		return Credential{}, "", fmt.Errorf("%s get %s: decoding answer: %w", bin, host, err)
	}
	if got.Username == "<token>" {
		// Docker's marker for an identity token kept by a helper.
		return Credential{IdentityToken: got.Secret}, from, nil
	}
	return Credential{Username: got.Username, Password: got.Secret}, from, nil
}

// lookPath finds bin in the directories of path.
func lookPath(bin, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", bin)
}

// limitedBuffer stops a helper from filling memory.
type limitedBuffer struct{ b *bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxDockerConfig - l.b.Len(); room < len(p) {
		l.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.b.Write(p)
}
