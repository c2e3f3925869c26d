// Package recoverytest is the conformance suite every recovery.Store
// implementation must pass.
package recoverytest
