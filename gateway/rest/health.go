package main

import (
	"context"
	"net/http"
	"time"
)

// healthCheckTimeout bounds /healthz: a backend that does not answer within it counts as down (503).
const healthCheckTimeout = 2 * time.Second

// withTimeout gives each request a deadline, which grpc-gateway passes on to the gRPC call.
//
// /healthz itself is grpc-gateway's WithHealthzEndpoint: it calls grpc.health.v1.Health/Check on the backend
// (`?service=` names one service) and answers 200 when SERVING, 503 when NOT_SERVING, UNKNOWN or unreachable
// (the error handler maps UNAVAILABLE and DEADLINE_EXCEEDED to 503 without the backend's address), 404 when
// the backend does not know the service.
func withTimeout(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
