// Package ratelimit owns rate decisions: the Limiter interface that the
// session and HTTP layers ask before doing work, and Memory, an in-process
// token-bucket implementation built on golang.org/x/time/rate.
package ratelimit
