package main

import "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

// incomingHeaderMatcher decides which HTTP request headers become gRPC metadata.
//
// grpc-gateway always forwards `Authorization` as the `authorization` metadata key by itself, so the matcher
// must not forward it again (that sent the key twice) nor let the default matcher copy it to
// `grpcgateway-authorization` (a second copy of a credential). `X-Request-Id` passes through, and so does the
// W3C trace context (`traceparent`, `tracestate`, as an HTTP client's OpenTelemetry sends them), so a REST caller's
// trace continues through the gateway as a gRPC caller's does; everything else follows grpc-gateway's default
// (`Grpc-Metadata-*` headers, permanent headers prefixed). Keys arrive in Go's canonical form.
func incomingHeaderMatcher(key string) (string, bool) {
	switch key {
	case "Authorization":
		return "", false
	case "X-Request-Id":
		return "x-request-id", true
	case "Traceparent":
		return "traceparent", true
	case "Tracestate":
		return "tracestate", true
	}
	return runtime.DefaultHeaderMatcher(key)
}
