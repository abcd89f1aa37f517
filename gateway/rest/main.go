// Command rest is the REST face of the exchange: a grpc-gateway reverse proxy that turns the HTTP/JSON calls
// declared by the google.api.http annotations in proto/exchange/v1 into gRPC calls to the Python gateway.
// It keeps no state and applies no business rules. What it adds to grpc-gateway's defaults (see README.md):
// one `authorization` value per call (headers.go), error bodies that carry every google.rpc detail with a
// Retry-After header and without internal addresses (errors.go), decoding hints (hints.go), 405 for a wrong method
// (errors.go), unknown query parameters refused with 400 (query.go), bodies above 1 MiB refused with 413 before
// anything is forwarded (body.go), and a /healthz that asks the backend's grpc.health.v1 service (health.go).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	exchangev1 "github.com/exchange-core/exchange-core/gen/go/exchange/v1"
)

const (
	shutdownTimeout   = 5 * time.Second
	readHeaderTimeout = 5 * time.Second
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3001", "HTTP address to serve REST on")
	backend := flag.String("grpc", "127.0.0.1:50051", "gRPC address of the Python gateway")
	openapi := flag.String("openapi", "gen/openapi/exchange.swagger.json", "OpenAPI document served at /openapi.json")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One client connection for every service and the health check; it reconnects by itself when the
	// backend restarts, so the proxy can start before the backend.
	conn, err := grpc.NewClient(*backend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("gRPC client for %s: %v", *backend, err)
	}
	defer conn.Close()

	routes := bindingRoutes()
	mux := newServeMux(grpc_health_v1.NewHealthClient(conn), routes)
	registrations := []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		exchangev1.RegisterTradingServiceHandler,
		exchangev1.RegisterAccountServiceHandler,
		exchangev1.RegisterMarketDataServiceHandler,
	}
	for _, register := range registrations {
		if err := register(ctx, mux, conn); err != nil {
			log.Fatalf("register handler: %v", err)
		}
	}

	root := http.NewServeMux()
	root.Handle("/", refuseQueryWithoutQueryFields(mux, mux, routes))
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		http.ServeFile(w, r, *openapi)
	})
	root.Handle("/healthz", withTimeout(mux, healthCheckTimeout))

	// Listen before serving so that `--listen 127.0.0.1:0` works: the log line names the port the kernel chose.
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen on %s: %v", *listen, err)
	}
	server := &http.Server{Handler: limitBody(root, mux, maxBodyBytes), ReadHeaderTimeout: readHeaderTimeout}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = server.Shutdown(shutdownCtx)
	}()
	log.Printf("REST proxy listening on %s, forwarding to gRPC %s", listener.Addr(), *backend)
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

// newServeMux is grpc-gateway's mux with the project's options (each explained where it is defined).
func newServeMux(health grpc_health_v1.HealthClient, routes []route) *runtime.ServeMux {
	// Proto field names and every field (zero values and enum names included), as the gRPC API shows them;
	// unknown JSON fields are refused, not dropped.
	marshaler := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true, UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(incomingHeaderMatcher),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithStreamErrorHandler(streamErrorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler(routes)),
		runtime.SetQueryParameterParser(strictQueryParser{next: &runtime.DefaultQueryParser{}}),
		// A form POST to a GET path is a wrong method (405), not a GET in disguise.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithHealthzEndpoint(health),
	)
}
