package transcode

import (
	"fmt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"strings"
)

func repeat(s string, n int) string { return strings.Repeat(s, n) }

// keys joins n formatted keys with commas.
func keys(n int, format string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(parts, ",")
}

const echoRequestJSON = `{"name":"gateway","count":3,"big":"9007199254740993","unsigned":"42","flag":true,` +
	`"ratio":0.5,"data":"aGVsbG8=","color":"COLOR_RED","nested":{"id":"7","label":"inner"},` +
	`"tags":["a","b","c"],"numbers":["1","2","3"],"items":[{"id":"1","label":"one"},{"id":"2","label":"two"}],` +
	`"labels":{"env":"prod","team":"edge"},"at":"2024-05-06T07:08:09.123Z","snakeCaseField":"snake"}`

var echoResponseJSON = `{"request":` + echoRequestJSON + `,"metadata":{"authorization":"Bearer x",` +
	`"content-type":"application/grpc","user-agent":"grpc-go/1.85.0","x-request-id":"abc123"},` +
	`"node":"node-1","deadlineMillis":"14999"}`

const ordersJSON = `{"orders":[` +
	`{"id":"1","product":"keyboard","quantity":"2","priceCents":"4999","userId":"1","username":"alice","address":"1 Main St","phone":"555-0100"},` +
	`{"id":"2","product":"mouse","quantity":"1","priceCents":"1999","userId":"1","username":"alice","address":"1 Main St","phone":"555-0100"},` +
	`{"id":"3","product":"monitor","quantity":"1","priceCents":"19999","userId":"2","username":"bob","address":"2 Side St","phone":"555-0101"}]}`

func protoreflectName(s string) protoreflect.FullName { return protoreflect.FullName(s) }
