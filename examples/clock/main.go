// Command clock is the clock service of the examples: a plain gRPC server (Clock, with
// reflection and health) registered as go.micro.api.clock in the registry the gateway's config
// file describes. Clock.Tick is a server stream, which the gateway's rpc handler answers as
// NDJSON (or server-sent events).
//
//	go run ./examples/clock --config config.yaml --address 127.0.0.1:9095
//	curl -N localhost:8080/clock/Clock/Tick -d '{"count":3,"intervalMs":200}'   # through the gateway
//	curl localhost:8080/clock/Clock/Now -d '{}'
package main

import (
	"github.com/edgeapi/gateway/examples/internal/launch"
)

func main() {
	launch.Main("clock service", "127.0.0.1:9095", serve)
}
