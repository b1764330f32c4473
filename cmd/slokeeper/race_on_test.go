//go:build race

package main

// raceEnabled: the race detector multiplies a process's memory (5–10×,
// says Go's documentation), so memory bounds read differently under it.
const raceEnabled = true
