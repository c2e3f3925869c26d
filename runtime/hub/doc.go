// Package hub owns the sessions of one runtime node: which connections
// belong to which user and channel, the handling of client events, and
// delivery of published messages to local connections. Fan-out between
// nodes goes through a broker.Broker; offline users' messages go to a
// queue.Queue. Registries are sharded, and no lock is held while a socket
// is written: delivery only enqueues into each connection's bounded queue.
package hub
