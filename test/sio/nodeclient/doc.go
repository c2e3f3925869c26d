// Package nodeclient runs the Node.js scripts of test/sio, which drive the
// real socket.io-client pinned by test/sio/package-lock.json, and hands
// their output back to Go tests. It installs the npm packages once per test
// process, when node_modules is missing or older than the lock file.
//
// The tests that use it need node and npm on PATH; without them they fail
// (rather than skip), because a skipped interoperability test hides the one
// thing it exists to show.
package nodeclient
