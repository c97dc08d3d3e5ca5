// Package flagenv is the command line's plumbing around package flag:
// flags not given on the command line are set from environment variables
// (the agent's AGENT_* settings, including the original prototype's
// HOST/PORT pairs), and the flag package's errors are rewritten to name
// the flag as it is written (--period) and the form its value takes.
// Errors about values are usage errors (package usage).
package flagenv
