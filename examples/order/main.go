// Command order is the order service of the examples: a plain gRPC server (OrderSrv, with
// reflection and health) registered as go.micro.api.orderservice in the registry the gateway's
// config file describes. It answers each order joined with its user's account, which it asks
// go.micro.api.userservices for, found through the same registry (registry:/// target, round
// robin). By default that registry is the gateway's embedded NATS server; it listens on
// 127.0.0.1:9092.
//
//	go run ./examples/order --config config.yaml --address 127.0.0.1:9092
//	curl localhost:8080/orderservice/OrderSrv/GetOrder -d '{"id":1}'   # through the gateway
package main

import (
	"github.com/edgeapi/gateway/examples/internal/launch"
)

func main() {
	launch.Main("order service", "127.0.0.1:9092", serve)
}
