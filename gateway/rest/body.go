package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	exchangev1 "github.com/exchange-core/exchange-core/gen/go/exchange/v1"
)

// maxBodyBytes bounds a request body (1 MiB). The largest valid request is a PlaceOrders batch of 1000 orders
// (gateway/trading.py BATCH_ORDERS_MAX); with every field set at its longest it is about 0.4 MB, pretty-printed
// about 0.5 MB, so the limit leaves twice that and refuses only what no valid call needs. Without it the proxy
// read any body whole and the backend refused it as RESOURCE_EXHAUSTED (429, "retry") for exceeding gRPC's 4 MiB.
const maxBodyBytes int64 = 1 << 20

// After a 413 the rest of the body is read and thrown away, at most drainBytesMax of it within drainTimeout,
// before the connection closes (nginx's lingering close does the same): a client that writes its whole body before
// it reads the answer (urllib, requests, many SDKs) would otherwise have its connection reset and never see the
// 413. Nothing is kept; a body declared longer than drainBytesMax is not drained at all.
const (
	drainBytesMax int64 = 32 << 20
	drainTimeout        = 5 * time.Second
)

// limitBody reads each request body, at most limit bytes of it, before anything else sees the request, and
// answers 413 (INVALID_ARGUMENT with ErrorInfo REJECT_REASON_INVALID_REQUEST, metadata limit_bytes) to a longer
// one without forwarding anything: at once when Content-Length says so, otherwise when the (chunked) body
// passes the limit (http.MaxBytesReader). Reading the whole body here, rather than limiting grpc-gateway's
// decoder, makes the limit apply to the body and not to its first JSON value.
func limitBody(next http.Handler, mux *runtime.ServeMux, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			bodyTooLarge(w, r, mux, limit)
			return
		}
		// A known length is allocated once; an unknown one grows as it arrives (both stop at limit+1 bytes).
		buffer := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
		_, err := buffer.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			bodyTooLarge(w, r, mux, limit)
			return
		case err != nil:
			// The client went away or sent a broken chunked encoding: nothing worth forwarding.
			_, marshaler := runtime.MarshalerForRequest(mux, r)
			errorHandler(r.Context(), mux, marshaler, w, r,
				status.Errorf(codes.InvalidArgument, "could not read the request body: %v", err))
			return
		}
		r.Body = io.NopCloser(buffer)
		r.ContentLength = int64(buffer.Len())
		next.ServeHTTP(w, r)
	})
}

// bodyTooLarge answers 413 and closes the connection, after draining what is left of r.Body (r.Body is the
// server's own body reader, not a MaxBytesReader). A client that sent `Expect: 100-continue` waits for the
// answer and sends no body, so there is nothing to drain.
func bodyTooLarge(w http.ResponseWriter, r *http.Request, mux *runtime.ServeMux, limit int64) {
	s := status.Newf(codes.InvalidArgument, "the request body is larger than the limit of %d bytes", limit)
	info := &errdetails.ErrorInfo{
		Reason:   exchangev1.RejectReason_REJECT_REASON_INVALID_REQUEST.String(),
		Domain:   errorDomain,
		Metadata: map[string]string{"limit_bytes": strconv.FormatInt(limit, 10)},
	}
	if withInfo, err := s.WithDetails(protoadapt.MessageV1Of(info)); err == nil {
		s = withInfo
	}
	controller := http.NewResponseController(w)
	drain := !strings.EqualFold(r.Header.Get("Expect"), "100-continue") && r.ContentLength <= drainBytesMax &&
		controller.EnableFullDuplex() == nil // reading the body after the answer is written needs full duplex
	w.Header().Set("Connection", "close")
	_, marshaler := runtime.MarshalerForRequest(mux, r)
	errorHandler(r.Context(), mux, marshaler, w, r,
		&runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: s.Err()})
	if !drain || controller.Flush() != nil || controller.SetReadDeadline(time.Now().Add(drainTimeout)) != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainBytesMax))
}
