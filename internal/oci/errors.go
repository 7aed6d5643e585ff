package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code of the OCI Distribution Specification (plus the few
// that Docker clients also understand, such as TOOMANYREQUESTS).
type Code string

// The codes of the distribution specification, section "Error Codes".
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"
	// CodeRangeInvalid is not in the spec's table but the spec requires 416
	// for an out-of-order chunk; distribution uses this code for it.
	CodeRangeInvalid Code = "RANGE_INVALID"
	CodeInternal     Code = "INTERNAL_ERROR"
)

// statusOf is the single table from code to HTTP status.
var statusOf = map[Code]int{
	CodeBlobUnknown:         http.StatusNotFound,
	CodeBlobUploadInvalid:   http.StatusBadRequest,
	CodeBlobUploadUnknown:   http.StatusNotFound,
	CodeDigestInvalid:       http.StatusBadRequest,
	CodeManifestBlobUnknown: http.StatusBadRequest,
	CodeManifestInvalid:     http.StatusBadRequest,
	CodeManifestUnknown:     http.StatusNotFound,
	CodeNameInvalid:         http.StatusBadRequest,
	CodeNameUnknown:         http.StatusNotFound,
	CodeSizeInvalid:         http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeDenied:              http.StatusForbidden,
	CodeUnsupported:         http.StatusMethodNotAllowed,
	CodeTooManyRequests:     http.StatusTooManyRequests,
	CodeRangeInvalid:        http.StatusRequestedRangeNotSatisfiable,
	CodeInternal:            http.StatusInternalServerError,
}

// Status is the HTTP status the code is answered with.
func (c Code) Status() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is one OCI error. It carries its own HTTP status so that a handler
// can override the table where the spec asks (413 for a manifest too large,
// 416 for a bad range).
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	// HTTPStatus overrides Code.Status() when non-zero.
	HTTPStatus int `json:"-"`
	// Err is the cause, kept for logs and errors.Is, never sent.
	Err error `json:"-"`
}

// Errorf builds an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithStatus returns a copy of e answered with status instead of the table's.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.HTTPStatus = status
	return &c
}

// WithDetail returns a copy of e with a detail object.
func (e *Error) WithDetail(d any) *Error {
	c := *e
	c.Detail = d
	return &c
}

// Wrap returns a copy of e that keeps err as its cause.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status of the error.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	return e.Code.Status()
}

// Errors is the JSON envelope of the specification: {"errors":[...]}.
type Errors struct {
	Errors []*Error `json:"errors"`
}

// AsError returns the *Error inside err, or an INTERNAL_ERROR wrapping it
// with a message that leaks nothing of the cause to the client.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal server error", Err: err}
}

// WriteError answers w with err in the specification's JSON format.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	body, _ := json.Marshal(Errors{Errors: []*Error{e}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.Status())
	_, _ = w.Write(body)
}

// DecodeErrors reads an error body from a registry. It returns nil if the
// body is not in the specification's format.
func DecodeErrors(status int, body []byte) *Errors {
	var es Errors
	if err := json.Unmarshal(body, &es); err != nil || len(es.Errors) == 0 {
		return nil
	}
	for _, e := range es.Errors {
		e.HTTPStatus = status
	}
	return &es
}
