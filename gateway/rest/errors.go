package main

import (
	"context"
	"errors"
	"log"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	// Imported for its side effect as much as for its types: it registers every google.rpc detail message
	// (ErrorInfo, BadRequest, RetryInfo, ...) so that status details can be marshaled to JSON.
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	exchangev1 "github.com/exchange-core/exchange-core/gen/go/exchange/v1"
)

// errorDomain is ErrorInfo.domain of every refusal the exchange makes (docs/decisions.md, "Errors").
const errorDomain = "exchange.v1"

// Messages that replace what the proxy's own gRPC client says when the backend cannot be reached or fails:
// those texts name internal host:port addresses and transport details.
var genericMessages = map[codes.Code]string{
	codes.Unavailable:      "the exchange is unavailable; retry later",
	codes.DeadlineExceeded: "the exchange did not answer in time; retry later",
	codes.Canceled:         "the request was canceled",
	codes.Unknown:          "internal error",
	codes.Internal:         "internal error",
	codes.DataLoss:         "internal error",
}

// errorHandler writes every error as a google.rpc.Status JSON body (code, message, details with their @type)
// with the HTTP status grpc-gateway maps the code to. On top of grpc-gateway's DefaultHTTPErrorHandler it
// replaces messages that could leak internal addresses, adds hints to refused JSON bodies, and sets
// Retry-After from a google.rpc.RetryInfo detail.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, marshaler runtime.Marshaler, w http.ResponseWriter,
	r *http.Request, err error) {
	var httpStatusErr *runtime.HTTPStatusError
	httpStatus := 0
	if errors.As(err, &httpStatusErr) {
		httpStatus, err = httpStatusErr.HTTPStatus, httpStatusErr.Err
	}
	original := status.Convert(err)
	public := publicStatus(ctx, original)
	if public != original {
		log.Printf("%s %s: %v (answered %v %q)", r.Method, r.URL.Path, original.Err(), public.Code(), public.Message())
	}
	public = withProxyReason(withDecodeHint(ctx, public))
	if delay, ok := retryDelaySeconds(public); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(delay, 10))
	}
	err = public.Err()
	if httpStatus != 0 {
		err = &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: err}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, marshaler, bearerChallenge{w}, r, err)
}

// streamErrorHandler applies the same rules to an error in the middle of a server stream (sent as an
// `{"error": Status}` chunk): no internal addresses, a reason on the proxy's own errors.
func streamErrorHandler(ctx context.Context, err error) *status.Status {
	return withProxyReason(publicStatus(ctx, status.Convert(err)))
}

// bearerChallenge sets an RFC 6750 challenge on 401 answers; grpc-gateway would put the status message there.
type bearerChallenge struct {
	http.ResponseWriter
}

// WriteHeader implements http.ResponseWriter.
func (w bearerChallenge) WriteHeader(httpStatus int) {
	if httpStatus == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="exchange"`)
	}
	w.ResponseWriter.WriteHeader(httpStatus)
}

// routingErrorHandler answers 405 with an Allow header when the path exists for other methods (grpc-gateway
// says 501) and 404 for an unknown path, both with ErrorInfo REJECT_REASON_INVALID_REQUEST; anything else as
// grpc-gateway does. routes are the REST bindings (bindingRoutes).
func routingErrorHandler(routes []route) runtime.RoutingErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, marshaler runtime.Marshaler, w http.ResponseWriter,
		r *http.Request, httpStatus int) {
		var s *status.Status
		switch httpStatus {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", strings.Join(allowedMethods(routes, r.URL.Path), ", "))
			s = status.Newf(codes.Unimplemented, "method %s is not allowed on %s", r.Method, r.URL.Path)
		case http.StatusNotFound:
			s = status.Newf(codes.NotFound, "no REST path %s; the paths are listed in /openapi.json", r.URL.Path)
		default:
			runtime.DefaultRoutingErrorHandler(ctx, mux, marshaler, w, r, httpStatus)
			return
		}
		err := withErrorInfo(s, exchangev1.RejectReason_REJECT_REASON_INVALID_REQUEST).Err()
		errorHandler(ctx, mux, marshaler, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: err})
	}
}

// proxyReasons is the RejectReason of the errors the proxy makes itself (no ErrorInfo yet): a request it could
// not decode, a backend it could not reach, a backend that did not answer in time.
var proxyReasons = map[codes.Code]exchangev1.RejectReason{
	codes.InvalidArgument:  exchangev1.RejectReason_REJECT_REASON_INVALID_REQUEST,
	codes.Unavailable:      exchangev1.RejectReason_REJECT_REASON_SERVICE_UNAVAILABLE,
	codes.DeadlineExceeded: exchangev1.RejectReason_REJECT_REASON_TIMEOUT,
}

// withProxyReason adds ErrorInfo (domain exchange.v1, reason from proxyReasons) to a status without one, so
// every refusal a client sees carries a machine-readable reason.
func withProxyReason(s *status.Status) *status.Status {
	reason, ok := proxyReasons[s.Code()]
	if !ok || hasExchangeErrorInfo(s) {
		return s
	}
	return withErrorInfo(s, reason)
}

func withErrorInfo(s *status.Status, reason exchangev1.RejectReason) *status.Status {
	info := &errdetails.ErrorInfo{Reason: reason.String(), Domain: errorDomain}
	withInfo, err := s.WithDetails(protoadapt.MessageV1Of(info))
	if err != nil {
		return s
	}
	return withInfo
}

// publicStatus returns the status as clients may see it. A refusal by the exchange carries an ErrorInfo of
// our domain and is passed on whole. Anything else with a code that means "the backend failed or is out of
// reach" comes from the proxy's own gRPC client (or an unplanned failure) and gets a generic message.
func publicStatus(ctx context.Context, s *status.Status) *status.Status {
	if hasExchangeErrorInfo(s) {
		return s
	}
	code := s.Code()
	if isHealthCheck(ctx) {
		if healthAnswerPattern.MatchString(s.Message()) {
			return s // the backend answered its health check (e.g. NOT_SERVING): say what it answered
		}
		if code == codes.DeadlineExceeded {
			code = codes.Unavailable // a backend too slow for its health check is down for the load balancer
		}
	}
	message, replace := genericMessages[code]
	if !replace {
		return s
	}
	return status.New(code, message)
}

func isHealthCheck(ctx context.Context) bool {
	method, ok := runtime.RPCMethod(ctx)
	return ok && method == grpc_health_v1.Health_Check_FullMethodName
}

func hasExchangeErrorInfo(s *status.Status) bool {
	for _, detail := range s.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			return true
		}
	}
	return false
}

// retryDelaySeconds is the RetryInfo delay rounded up to whole seconds (Retry-After has no fractions).
func retryDelaySeconds(s *status.Status) (int64, bool) {
	if s.Code() != codes.ResourceExhausted && s.Code() != codes.Unavailable {
		return 0, false
	}
	for _, detail := range s.Details() {
		if info, ok := detail.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			seconds := info.GetRetryDelay().AsDuration().Seconds()
			return max(1, int64(math.Ceil(seconds))), true
		}
	}
	return 0, false
}

// healthAnswerPattern matches the message grpc-gateway's /healthz gives a non-SERVING answer (its prototext).
var healthAnswerPattern = regexp.MustCompile(`^status:\s*[A-Z_]+$`)
