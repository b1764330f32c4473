// Package slokeeper is the domain vocabulary of slokeeper: the types every
// engine talks in, the service interfaces that storage implements and the
// domain error. It depends on the standard library only.
//
// slokeeper turns a cloud service's published service-level objectives into a
// policy and runs it; see design.md in the shared folder and README.md.
package slokeeper

import "time"

// Clock tells the time. Every engine takes one so tests and the simulator
// can drive time instead of waiting for it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// ClockFunc adapts a function to the Clock interface.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
