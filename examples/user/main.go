// Command user is the user service of the examples: a plain gRPC server (UserSrv, with
// reflection and health) registered as go.micro.api.userservices in the registry the gateway's
// config file describes. By default that is the gateway's embedded NATS server, and the service
// registers itself there with heartbeats; it listens on 127.0.0.1:9091.
//
//	go run ./examples/user --config config.yaml --address 127.0.0.1:9091
//	curl localhost:8080/userservices/UserSrv/GetAccount -d '{"id":1}'   # through the gateway
package main

import (
	"github.com/edgeapi/gateway/examples/internal/launch"
)

func main() {
	launch.Main("user service", "127.0.0.1:9091", serve)
}
