// Package history owns channel history: the recent publications of
// channels whose namespace keeps history, bounded in count and age, so a
// client that resubscribes with the id of the last message it saw can
// recover what it missed. Memory is the in-process implementation.
package history
