package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// importBase is the name the in-process registry answers as.
const importBase = "http://berth.import"

// maxImportAnswer bounds an answer of the in-process registry: manifests
// and errors, never blobs.
const maxImportAnswer = 16 << 20

// InProcessBase is the base URL of a client from InProcessClient.
const InProcessBase = importBase

// InProcessClient returns an HTTP client whose requests are served by h
// without a network hop; give internal/remote the base InProcessBase.
// Requests keep their context, so the caller's principal, actor and
// client address are the request's.
func InProcessClient(h http.Handler) *http.Client {
	return &http.Client{Transport: inProcess{h: h}}
}

// inProcess hands requests to a handler (the registry) without a network
// hop.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rw := &answer{header: http.Header{}}
	t.h.ServeHTTP(rw, r)
	if rw.over {
		return nil, fmt.Errorf("%s %s: answer over %d bytes", req.Method, req.URL.Path, maxImportAnswer)
	}
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	resp := &http.Response{Status: strconv.Itoa(rw.status) + " " + http.StatusText(rw.status), StatusCode: rw.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: rw.header, Request: req,
		Body: io.NopCloser(&rw.body), ContentLength: int64(rw.body.Len())}
	if cl := rw.header.Get("Content-Length"); req.Method == http.MethodHead && cl != "" {
		resp.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	return resp, nil
}

// answer is a response held in memory, up to maxImportAnswer.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
	over   bool
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(p) > maxImportAnswer {
		a.over = true
		return 0, errors.New("answer too large")
	}
	return a.body.Write(p)
}
