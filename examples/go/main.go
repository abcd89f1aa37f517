// Command example is a client of the exchange on the generated Go SDK (gen/go, package exchangev1).
//
// It connects to the gateway's gRPC port, authenticates every call with the API key as bearer metadata, opens
// the caller's private stream, places a limit order with decimal strings, reads the order back (GetOrder,
// answered from the database once Settlement has stored it), and follows the private stream until the order's
// update arrives. Each step prints one JSON line. The key comes from the environment (EXCHANGE_API_KEY).
//
//	EXCHANGE_API_KEY=exk_... go run ./examples/go --target 127.0.0.1:50051 \
//	    --symbol BTC_USDT --side buy --price 45000.00 --quantity 0.5 --client-order-id ex-1
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	exchangev1 "github.com/exchange-core/exchange-core/gen/go/exchange/v1"
)

const readBackPoll = 200 * time.Millisecond

var sides = map[string]exchangev1.Side{"buy": exchangev1.Side_SIDE_BUY, "sell": exchangev1.Side_SIDE_SELL}

// show prints one step as a JSON line, fields by their proto names (as the REST API spells them).
func show(step string, message proto.Message) {
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(message)
	if err != nil {
		log.Fatalf("encode %s: %v", step, err)
	}
	fmt.Printf("{%q: %s}\n", step, body)
}

// readBack polls GetOrder until the order is stored (NOT_FOUND until Settlement has written it) or ctx ends.
func readBack(ctx context.Context, trading exchangev1.TradingServiceClient, orderID uint64) (*exchangev1.Order, error) {
	for {
		response, err := trading.GetOrder(ctx, &exchangev1.GetOrderRequest{OrderId: orderID})
		if err == nil {
			return response.GetOrder(), nil
		}
		if status.Code(err) != codes.NotFound {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(readBackPoll):
		}
	}
}

// followUntilUpdate prints private stream events until one is an update of orderID; it reports on done.
func followUntilUpdate(stream exchangev1.AccountService_StreamUserDataClient, orderID uint64, done chan<- error) {
	for {
		event, err := stream.Recv()
		if err != nil {
			done <- err
			return
		}
		if event.GetHeartbeat() != nil {
			continue
		}
		show("stream", event)
		if update := event.GetOrderUpdate(); update != nil && update.GetOrderId() == orderID {
			done <- nil
			return
		}
	}
}

func main() {
	target := flag.String("target", "127.0.0.1:50051", "the gateway's gRPC address")
	symbol := flag.String("symbol", "BTC_USDT", "the market")
	side := flag.String("side", "buy", "buy or sell")
	price := flag.String("price", "", "a decimal string, e.g. 45000.00")
	quantity := flag.String("quantity", "", "a decimal string, e.g. 0.5")
	clientOrderID := flag.String("client-order-id", "", "your idempotency key for the order")
	timeout := flag.Duration("timeout", 30*time.Second, "bound on the whole run")
	flag.Parse()
	if *price == "" || *quantity == "" || *clientOrderID == "" || sides[*side] == exchangev1.Side_SIDE_UNSPECIFIED {
		flag.Usage()
		os.Exit(2)
	}

	connection, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("connect %s: %v", *target, err)
	}
	defer connection.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+os.Getenv("EXCHANGE_API_KEY"))
	trading := exchangev1.NewTradingServiceClient(connection)
	account := exchangev1.NewAccountServiceClient(connection)

	stream, err := account.StreamUserData(ctx, &exchangev1.StreamUserDataRequest{})
	if err != nil {
		log.Fatalf("open the private stream: %v", err)
	}
	if _, err := stream.Recv(); err != nil { // the opening heartbeat: the stream is live
		log.Fatalf("private stream: %v", err)
	}
	snapshot, err := stream.Recv()
	if err != nil {
		log.Fatalf("private stream: %v", err)
	}
	show("balances", snapshot.GetBalanceSnapshot())

	placed, err := trading.PlaceOrder(ctx, &exchangev1.PlaceOrderRequest{
		Symbol: *symbol, Side: sides[*side], OrderType: exchangev1.OrderType_ORDER_TYPE_LIMIT,
		TimeInForce: exchangev1.TimeInForce_TIME_IN_FORCE_GTC, Price: *price, Quantity: *quantity,
		ClientOrderId: *clientOrderID,
	})
	if err != nil {
		log.Fatalf("place the order: %v", err)
	}
	show("placed", placed)
	done := make(chan error, 1)
	go followUntilUpdate(stream, placed.GetOrderId(), done)
	order, err := readBack(ctx, trading, placed.GetOrderId())
	if err != nil {
		log.Fatalf("read the order back: %v", err)
	}
	show("order", order)
	if err := <-done; err != nil {
		log.Fatalf("private stream ended before the order's update: %v", err)
	}
}
