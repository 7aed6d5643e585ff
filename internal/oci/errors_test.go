package oci

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCodeStatus(t *testing.T) {
	tests := []struct {
		code Code
		want int
	}{
		{CodeBlobUnknown, 404},
		{CodeBlobUploadUnknown, 404},
		{CodeManifestUnknown, 404},
		{CodeNameUnknown, 404},
		{CodeDigestInvalid, 400},
		{CodeManifestInvalid, 400},
		{CodeManifestBlobUnknown, 400},
		{CodeNameInvalid, 400},
		{CodeSizeInvalid, 400},
		{CodeUnauthorized, 401},
		{CodeDenied, 403},
		{CodeUnsupported, 405},
		{CodeTooManyRequests, 429},
		{CodeRangeInvalid, 416},
		{Code("SOMETHING_NEW"), 500},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			if got := tt.code.Status(); got != tt.want {
				t.Errorf("%s.Status() = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

func TestWriteErrorRoundTrip(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   Code
		leaks      string
	}{
		{"table status", Errorf(CodeBlobUnknown, "blob %s unknown", "x"), 404, CodeBlobUnknown, ""},
		{"override", Errorf(CodeManifestInvalid, "too large").WithStatus(413), 413, CodeManifestInvalid, ""},
		{"wrapped", Errorf(CodeDenied, "locked").Wrap(cause), 403, CodeDenied, "disk on fire"},
		{"plain error", cause, 500, CodeInternal, "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tt.err)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.leaks != "" && strings.Contains(rec.Body.String(), tt.leaks) {
				t.Errorf("body leaks the cause: %s", rec.Body)
			}
			es := DecodeErrors(rec.Code, rec.Body.Bytes())
			if es == nil || len(es.Errors) != 1 {
				t.Fatalf("DecodeErrors(%s) = %v", rec.Body, es)
			}
			if got := es.Errors[0]; got.Code != tt.wantCode || got.Status() != tt.wantStatus {
				t.Errorf("decoded %+v, want code %s status %d", got, tt.wantCode, tt.wantStatus)
			}
		})
	}
}

func TestAsErrorFindsWrapped(t *testing.T) {
	inner := Errorf(CodeNameUnknown, "repository %q unknown", "x")
	err := errors.Join(errors.New("context"), inner)
	if got := AsError(err); got.Code != CodeNameUnknown {
		t.Errorf("AsError = %v", got)
	}
	var e *Error
	if !errors.As(Errorf(CodeDenied, "x").Wrap(http.ErrAbortHandler), &e) || !errors.Is(e, http.ErrAbortHandler) {
		t.Error("Wrap does not keep the cause for errors.Is")
	}
}

func TestDecodeErrorsRejectsOtherBodies(t *testing.T) {
	for _, body := range []string{"", "not json", `{"errors":[]}`, `{"message":"x"}`} {
		if es := DecodeErrors(500, []byte(body)); es != nil {
			t.Errorf("DecodeErrors(%q) = %v, want nil", body, es)
		}
	}
	body, _ := json.Marshal(Errors{Errors: []*Error{{Code: CodeDenied, Message: "no"}}})
	if es := DecodeErrors(403, body); es == nil || es.Errors[0].Message != "no" {
		t.Errorf("DecodeErrors of a valid body = %v", es)
	}
}
