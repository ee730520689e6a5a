// Package service is a small library for Go backends behind the gateway: it serves a gRPC server
// the way the gateway expects to find it, keeps it registered while it runs, and lets Go clients
// dial other services by registry name.
//
// Serving (Run, or New then Server.Serve):
//   - The caller builds the *grpc.Server and registers its own services on it. New adds gRPC
//     server reflection (v1 and v1alpha, so the gateway can build requests from descriptors) and
//     the standard health service, unless the server already has them, and binds the listener.
//   - Serve reports SERVING for the server as a whole ("") and for every registered service,
//     and, when a Registrar is given, registers a node (ID: name + "-" + random hex; address: the
//     bound address, with 127.0.0.1 when bound to all interfaces, or Options.Advertise) and
//     registers it again every HeartbeatInterval so TTL-based registries keep it. A failed
//     registration is logged and retried at the next heartbeat; it does not stop serving.
//   - When ctx is done Serve stops heartbeating (waiting for a Register in flight), deregisters
//     with a fresh short context, sets every health status to NOT_SERVING, then stops gracefully
//     within ShutdownTimeout and forcibly after it. Open streams (health Watch included) hold
//     the graceful stop until that timeout. Serve returns nil after a shutdown caused by ctx or
//     by the grpc.Server's owner stopping it, and the listener's error otherwise; every goroutine
//     it starts has ended when it returns.
//
// Discovery (NewResolverBuilder):
//   - The builder reads a registry/cache.Cache and serves the "registry" scheme to grpc-go:
//     grpc.NewClient("registry:///go.micro.api.userservices", grpc.WithResolvers(b), ...).
//   - It never does I/O: each resolver pushes the cache's current nodes of its service, and again
//     whenever the cache's view of that service changes. Before the cache's first sync nothing is
//     pushed, so calls wait (within their deadline) instead of failing; once synced, a service
//     with no live node is reported as an error with an empty address list, so calls that do not
//     wait for ready fail fast with codes.Unavailable.
//   - The builder must be created before the cache's Run starts (it registers one OnChange).
package service
