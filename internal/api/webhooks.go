package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/webhook"
)

// WebhookService manages subscriptions; *webhook.Dispatcher is one.
type WebhookService interface {
	Create(ctx context.Context, w metadata.Webhook) (*metadata.Webhook, error)
	Update(ctx context.Context, w metadata.Webhook) (*metadata.Webhook, error)
	Delete(ctx context.Context, name string) error
	Get(ctx context.Context, name string) (*metadata.Webhook, error)
	List(ctx context.Context) ([]metadata.Webhook, error)
	Ping(ctx context.Context, name string) (*metadata.WebhookDelivery, error)
	Deliveries(ctx context.Context, name string, n int) ([]metadata.WebhookDelivery, error)
}

// Webhooks serves /api/v1/webhooks (docs/webhooks.md).
type Webhooks struct {
	svc WebhookService
	api *API
}

// NewWebhooks returns the webhook endpoints.
func NewWebhooks(svc WebhookService, a *API) *Webhooks { return &Webhooks{svc: svc, api: a} }

const webhooksPath = "webhooks"

// WithWebhooks routes /api/v1/webhooks[/…] to h and the rest to next.
func WithWebhooks(next http.Handler, h *Webhooks) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		if rest == webhooksPath || strings.HasPrefix(rest, webhooksPath+"/") {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WebhookBody is the body of POST /api/v1/webhooks and PUT
// /api/v1/webhooks/{name}. Enabled defaults to true. On PUT an empty
// secret keeps the stored one, and rotateSecret generates a new one.
type WebhookBody struct {
	Name         string   `json:"name,omitempty"`
	URL          string   `json:"url"`
	Secret       string   `json:"secret,omitempty"`
	RotateSecret bool     `json:"rotateSecret,omitempty"`
	Events       []string `json:"events,omitempty"`
	RepoRegex    string   `json:"repositoryRegex,omitempty"`
	TagRegex     string   `json:"tagRegex,omitempty"`
	IncludePulls bool     `json:"includePulls,omitempty"`
	Enabled      *bool    `json:"enabled,omitempty"`
}

// WebhookCreated is the answer to a create or a secret change: the
// subscription and, this once, its secret.
type WebhookCreated struct {
	metadata.Webhook
	Secret string `json:"secret"`
}

// WebhookList is the body of GET /api/v1/webhooks.
type WebhookList struct {
	Webhooks []metadata.Webhook `json:"webhooks"`
}

// DeliveryList is the body of GET /api/v1/webhooks/{name}/deliveries.
type DeliveryList struct {
	Deliveries []metadata.WebhookDelivery `json:"deliveries"`
}

func (h *Webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Prefix), webhooksPath)
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	var (
		fn    func(http.ResponseWriter, *http.Request) error
		allow string
	)
	on := func(method string, f func(http.ResponseWriter, *http.Request) error) {
		allow = strings.TrimPrefix(allow+", "+method, ", ")
		if r.Method == method {
			fn = f
		}
	}
	switch {
	case rest == "":
		on(http.MethodGet, h.list)
		on(http.MethodPost, h.create)
	case len(parts) == 1 && webhook.ValidName(parts[0]):
		name := parts[0]
		on(http.MethodGet, func(w http.ResponseWriter, r *http.Request) error { return h.get(w, r, name) })
		on(http.MethodPut, func(w http.ResponseWriter, r *http.Request) error { return h.update(w, r, name) })
		on(http.MethodDelete, func(w http.ResponseWriter, r *http.Request) error { return h.delete(w, r, name) })
	case len(parts) == 2 && parts[1] == "ping" && webhook.ValidName(parts[0]):
		on(http.MethodPost, func(w http.ResponseWriter, r *http.Request) error { return h.ping(w, r, parts[0]) })
	case len(parts) == 2 && parts[1] == "deliveries" && webhook.ValidName(parts[0]):
		on(http.MethodGet, func(w http.ResponseWriter, r *http.Request) error { return h.deliveries(w, r, parts[0]) })
	default:
		h.api.fail(w, r, notFound(r.URL.Path))
		return
	}
	if fn == nil {
		w.Header().Set("Allow", allow)
		h.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if err := fn(w, r); err != nil {
		h.api.fail(w, r, webhookError(err))
	}
}

// webhookError maps refusals to 400 and a taken name to 409.
func webhookError(err error) error {
	switch {
	case errors.Is(err, webhook.ErrInvalid), errors.Is(err, webhook.ErrTarget):
		return badRequest("%v", err)
	case errors.Is(err, metadata.ErrExists):
		return oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(http.StatusConflict).Wrap(err)
	}
	return lifecycleError(err)
}

func (b WebhookBody) webhook(name string) metadata.Webhook {
	return metadata.Webhook{Name: name, URL: b.URL, Secret: b.Secret, Events: b.Events, RepoRegex: b.RepoRegex,
		TagRegex: b.TagRegex, IncludePulls: b.IncludePulls, Enabled: b.Enabled == nil || *b.Enabled}
}

func (h *Webhooks) list(w http.ResponseWriter, r *http.Request) error {
	all, err := h.svc.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, WebhookList{Webhooks: all})
}

func (h *Webhooks) create(w http.ResponseWriter, r *http.Request) error {
	var body WebhookBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.RotateSecret {
		return badRequest("rotateSecret: only on PUT")
	}
	got, err := h.svc.Create(r.Context(), body.webhook(body.Name))
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+webhooksPath+"/"+got.Name)
	return writeJSONBody(w, http.StatusCreated, WebhookCreated{Webhook: *got, Secret: got.Secret})
}

func (h *Webhooks) get(w http.ResponseWriter, r *http.Request, name string) error {
	got, err := h.svc.Get(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, got)
}

func (h *Webhooks) update(w http.ResponseWriter, r *http.Request, name string) error {
	var body WebhookBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Name != "" && body.Name != name {
		return badRequest("name %q in the body differs from %q in the path", body.Name, name)
	}
	if body.RotateSecret && body.Secret != "" {
		return badRequest("secret and rotateSecret: give one")
	}
	sub := body.webhook(name)
	if body.RotateSecret {
		sub.Secret = webhook.NewSecret()
	}
	got, err := h.svc.Update(r.Context(), sub)
	if err != nil {
		return err
	}
	if body.Secret != "" || body.RotateSecret {
		return writeJSONBody(w, http.StatusOK, WebhookCreated{Webhook: *got, Secret: got.Secret})
	}
	return writeJSONBody(w, http.StatusOK, got)
}

func (h *Webhooks) delete(w http.ResponseWriter, r *http.Request, name string) error {
	if err := h.svc.Delete(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ping answers 200 with the delivery record whatever the receiver said:
// the request worked; the record says whether the receiver did.
func (h *Webhooks) ping(w http.ResponseWriter, r *http.Request, name string) error {
	d, err := h.svc.Ping(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, d)
}

func (h *Webhooks) deliveries(w http.ResponseWriter, r *http.Request, name string) error {
	n, err := h.api.pageSize(r.URL.Query())
	if err != nil {
		return err
	}
	ds, err := h.svc.Deliveries(r.Context(), name, n)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, DeliveryList{Deliveries: ds})
}
