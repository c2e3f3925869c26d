// Package channel owns channel names and who may subscribe to them: the
// name pattern, the built-in namespaces (user:, team:, admin:) and the
// configurable rules for every other namespace.
package channel
