// Command rest is the REST face of the exchange: a grpc-gateway reverse proxy that turns the HTTP/JSON calls
// declared by the google.api.http annotations in proto/exchange/v1 into gRPC calls to the Python gateway.
// It keeps no state and applies no business rules; authentication headers pass through unchanged, and gRPC
// status codes (with their machine-readable reasons) are mapped to HTTP codes by grpc-gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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

	// Emit zero values and enum names so REST clients see every field, as the gRPC reflection shows them.
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true, UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			if key == "Authorization" || key == "X-Request-Id" {
				return key, true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
	)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	registrations := []func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error{
		exchangev1.RegisterTradingServiceHandlerFromEndpoint,
		exchangev1.RegisterAccountServiceHandlerFromEndpoint,
		exchangev1.RegisterMarketDataServiceHandlerFromEndpoint,
	}
	for _, register := range registrations {
		if err := register(ctx, mux, *backend, opts); err != nil {
			log.Fatalf("register handler: %v", err)
		}
	}

	root := http.NewServeMux()
	root.Handle("/", mux)
	root.HandleFunc("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		http.ServeFile(w, r, *openapi)
	})
	root.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	server := &http.Server{Addr: *listen, Handler: root, ReadHeaderTimeout: readHeaderTimeout}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = server.Shutdown(shutdownCtx)
	}()
	log.Printf("REST proxy listening on %s, forwarding to gRPC %s", *listen, *backend)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}
