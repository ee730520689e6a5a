//go:build !linux

// Command evloop is the http scenario's epoll event-loop measuring stick; it needs Linux.
package main

import "log"

func main() { log.Fatal("evloop: needs Linux (epoll)") }
