package manage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/oci"
)

// Paths of the endpoints, under the API prefix.
const (
	TokensPath = "/api/v1/tokens"
	KeysPath   = "/api/v1/keys"
)

// maxBody bounds request bodies: a token with its grants and CIDRs.
const maxBody = 64 << 10

// Handler serves /api/v1/tokens and /api/v1/keys. Authentication has run
// before it; it decides who may do what itself, because any account may
// manage its own tokens while the rest of the API is for administrators.
type Handler struct {
	Tokens *Tokens
	Keys   *token.KeySet
	Log    *slog.Logger
	// Audit, if set, records every change: action is token.create,
	// token.rotate, token.disable, token.enable, token.delete, key.rotate
	// or key.remove; err is nil on success.
	Audit func(r *http.Request, action, target string, err error)
}

// Owns reports whether path is served by the Handler.
func Owns(path string) bool {
	for _, p := range []string{TokensPath, KeysPath} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// SelfService reports whether p may reach path although it is not an API
// administrator: accounts manage their own tokens.
func SelfService(path string, p *authz.Principal) bool {
	return (path == TokensPath || strings.HasPrefix(path, TokensPath+"/")) && !p.Anonymous() && !p.Scoped
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var err error
	if rest, ok := strings.CutPrefix(r.URL.Path, KeysPath); ok {
		err = h.keys(w, r, strings.TrimPrefix(rest, "/"))
	} else {
		err = h.tokens(w, r, strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, TokensPath), "/"))
	}
	if err != nil {
		if e := oci.AsError(err); e.Code == oci.CodeInternal {
			h.Log.ErrorContext(r.Context(), "access API", "path", r.URL.Path, "err", err)
		}
		oci.WriteError(w, err)
	}
}

func (h *Handler) audit(r *http.Request, action, target string, err error) {
	if h.Audit != nil {
		h.Audit(r, action, target, err)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return oci.Errorf(oci.CodeUnsupported, "method not allowed; use %s", allow).WithStatus(http.StatusMethodNotAllowed)
}

// tokens routes "", "{name}", "{name}/rotate", "{name}/disable",
// "{name}/enable".
func (h *Handler) tokens(w http.ResponseWriter, r *http.Request, rest string) error {
	p := authz.PrincipalFrom(r.Context())
	ctx := r.Context()
	name, verb, _ := strings.Cut(rest, "/")
	switch {
	case name == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		list, err := h.Tokens.List(ctx, p)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
	case name == "" && r.Method == http.MethodPost:
		var req CreateRequest
		if err := readJSON(w, r, &req); err != nil {
			return err
		}
		out, err := h.Tokens.Create(ctx, p, req)
		h.audit(r, "token.create", req.Name, err)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, out)
	case name == "":
		return methodNotAllowed(w, "GET, POST")
	case verb == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		t, err := h.Tokens.Get(ctx, p, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	case verb == "" && r.Method == http.MethodDelete:
		err := h.Tokens.Delete(ctx, p, name)
		h.audit(r, "token.delete", name, err)
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case verb == "":
		return methodNotAllowed(w, "GET, DELETE")
	case r.Method != http.MethodPost:
		return methodNotAllowed(w, "POST")
	case verb == "rotate":
		slot, err := strconv.Atoi(r.URL.Query().Get("slot"))
		if err != nil {
			return oci.Errorf(oci.CodeDenied, "slot: want 1 or 2").WithStatus(http.StatusBadRequest)
		}
		out, err := h.Tokens.Rotate(ctx, p, name, slot)
		h.audit(r, "token.rotate", fmt.Sprintf("%s#%d", name, slot), err)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	case verb == "disable" || verb == "enable":
		t, err := h.Tokens.SetDisabled(ctx, p, name, verb == "disable")
		h.audit(r, "token."+verb, name, err)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	}
	return oci.Errorf(oci.CodeUnsupported, "no API endpoint at %s", r.URL.Path).WithStatus(http.StatusNotFound)
}

// KeyList is the body of GET /api/v1/keys, newest first.
type KeyList struct {
	Keys []token.KeyInfo `json:"keys"`
}

// keys routes "" (GET), "rotate" (POST) and "{id}" (DELETE); only an
// administrator account logged in with its password may call them.
func (h *Handler) keys(w http.ResponseWriter, r *http.Request, rest string) error {
	p := authz.PrincipalFrom(r.Context())
	// A password login only: a registry token with the catalog may have
	// been issued to a scoped token.
	if p == nil || p.Scoped || p.Token != nil || !authz.IsAdmin(p.Grants) {
		return oci.Errorf(oci.CodeDenied, "signing keys are managed by administrators")
	}
	if h.Keys == nil {
		return oci.Errorf(oci.CodeUnsupported, "authentication is off: there are no signing keys").WithStatus(http.StatusNotFound)
	}
	switch {
	case rest == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return writeJSON(w, http.StatusOK, KeyList{Keys: h.Keys.Keys()})
	case rest == "":
		return methodNotAllowed(w, "GET")
	case rest == "rotate" && r.Method == http.MethodPost:
		k, err := h.Keys.Rotate(r.Context())
		h.audit(r, "key.rotate", k.ID, err)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, k)
	case rest == "rotate":
		return methodNotAllowed(w, "POST")
	case r.Method == http.MethodDelete:
		err := h.Keys.Remove(r.Context(), rest)
		h.audit(r, "key.remove", rest, err)
		switch {
		case errors.Is(err, token.ErrUnknownKey):
			return oci.Errorf(oci.CodeNameUnknown, "no key %.64q", rest).WithStatus(http.StatusNotFound)
		case err != nil && strings.Contains(err.Error(), "signing key"):
			return oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(http.StatusConflict)
		case err != nil:
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(w, "DELETE")
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return oci.Errorf(oci.CodeDenied, "request body: %v", err).WithStatus(http.StatusBadRequest)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return oci.Errorf(oci.CodeDenied, "request body: trailing data").WithStatus(http.StatusBadRequest)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}
