// Package logging owns the runtime's log format: structured JSON through
// zap, exposed as a logr.Logger, with the field names of the replaced
// service (message, timestamp, level) so existing log queries keep working.
package logging
