package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// functionURL serves a request that reached the function through its function URL (payload
// format 2.0) with Interactions: Slack's interaction requests, the only thing the URL is for.
func (h *Handler) functionURL(ctx context.Context, raw json.RawMessage) (events.LambdaFunctionURLResponse, error) {
	var in events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &in); err != nil {
		return events.LambdaFunctionURLResponse{}, fmt.Errorf("function URL request: %w", err)
	}
	body := []byte(in.Body)
	if in.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(in.Body)
		if err != nil {
			return respond(http.StatusBadRequest, "body is not base64"), nil
		}
		body = b
	}
	method := in.RequestContext.HTTP.Method
	if h.Interactions == nil {
		return respond(http.StatusNotFound, "not found"), nil
	}
	target := "https://" + in.RequestContext.DomainName + in.RawPath
	if in.RawQueryString != "" {
		target += "?" + in.RawQueryString
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return respond(http.StatusBadRequest, "bad request"), nil
	}
	for k, v := range in.Headers {
		// The function URL joins repeated headers with commas; Slack's are single.
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	w := &response{header: http.Header{}}
	switch {
	case in.RawPath != "/slack/interactions":
		http.NotFound(w, req)
	case method != http.MethodPost:
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	default:
		h.Interactions.ServeHTTP(w, req)
	}
	out := events.LambdaFunctionURLResponse{StatusCode: w.status, Body: w.body.String(), Headers: map[string]string{}}
	if out.StatusCode == 0 {
		out.StatusCode = http.StatusOK
	}
	for k, v := range w.header {
		out.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out, nil
}

func respond(status int, text string) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: status, Body: text, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}}
}

// response collects what a handler writes, for the function URL's answer.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *response) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
