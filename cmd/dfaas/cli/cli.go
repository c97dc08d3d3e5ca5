// Package cli is the command line of the reference DFaaS binary, dfaas:
// the agent of one node, the embedded FaaS, the demo, the simulator, the
// benchmark and the tools around them. It is a package, not just a main, so
// that a program can run the same command line with strategies of its own:
//
//	func main() {
//		reg := strategy.Builtin()
//		// newMine returns your strategy (a *Mine) with its defaults;
//		// --params and --strategy-params are decoded into it.
//		if err := reg.Register("mine", "my strategy", strategy.NewFactory(newMine)); err != nil {
//			log.Fatal(err)
//		}
//		cli.Main(reg)
//	}
//
// (see examples/customstrategy). Every command then takes --strategy mine,
// and "--strategy all" of dfaas sim and dfaas bench includes it; dfaas bench
// runs this same program as its nodes' agents. Run "dfaas help" for the list of commands
// and "dfaas <command> -h" for the flags of one. The package holds flags,
// help and wiring; the machinery lives in the module's internal packages.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy"
)

// Main runs the command line given by os.Args with the strategies of reg
// (strategy.Builtin() if nil) until it ends or SIGINT/SIGTERM arrives, and
// exits the process: status 0 on success, 2 on a usage error, 1 otherwise.
func Main(reg *strategy.Registry) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, reg)
	stop()
	os.Exit(ExitCode(err, os.Stderr))
}

// Run runs the command line args (without the program name) with the given
// streams and the strategies of reg (strategy.Builtin() if nil). The
// streams need not be safe for concurrent use: Run serialises its writes
// (logs and progress go to stderr from several goroutines).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, reg *strategy.Registry) error {
	return run(ctx, args, stdio{in: stdin, out: stdout, err: stderr, strategies: reg})
}

// ExitCode returns the process exit status for the error Run returned, and
// reports the error on w.
func ExitCode(err error, w io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)), usage.Is(err):
		fmt.Fprintln(w, "dfaas:", err)
		return 2
	default:
		fmt.Fprintln(w, "dfaas:", err)
		return 1
	}
}

// stdio are a command's standard streams and the strategies it may use.
type stdio struct {
	in         io.Reader
	out, err   io.Writer
	strategies *strategy.Registry
}

// command is one subcommand of dfaas. Its synopsis and description for
// "dfaas <command> -h" are in help.go.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// usageError is an error in how dfaas was invoked (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// commands returns the subcommands by name. To add one, write its run
// function in a file of its own and add a line here (and its help in
// help.go).
func commands() map[string]command {
	return map[string]command{
		"agent":    {"run the agent of one DFaaS node", runAgent},
		"faas":     {"serve the embedded FaaS (OpenFaaS gateway API, or OpenWhisk's with --api openwhisk) with the built-in functions", runFaaS},
		"demo":     {"run a three-node federation in this process, overload one node, and report", runDemo},
		"forecast": {"score load forecasters one step ahead on request-rate traces", runForecast},
		"keygen":   {"write a node key and print its ID, or issue a federation certificate", runKeygen},
		"churn":    {"measure request loss and update latency of a proxy under weight churn", runChurn},
		"sim":      {"simulate a scenario request by request with one or every strategy, against the oracle bound", runSim},
		"bench":    {"run a scenario on real processes (namespaces, Poisson load), report with plots, beside dfaas sim", runBench},

		"dataplane": {"measure the data plane's cost per request against plain HAProxy", runDataplane},
	}
}

func run(ctx context.Context, args []string, io stdio) error {
	if io.strategies == nil {
		io.strategies = strategy.Builtin()
	}
	io.out, io.err = &usage.LockedWriter{W: io.out}, &usage.LockedWriter{W: io.err}
	cmds := commands()
	if len(args) == 2 && args[0] == "help" {
		return helpCommand(ctx, cmds, args[1], io)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usageList(io.out, cmds)
		if len(args) == 0 {
			return usageError{"no command given"}
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usageList(io.err, cmds)
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	return c.run(ctx, args[1:], io)
}

// helpCommand prints the help of command name (dfaas help NAME, as dfaas
// NAME -h) on standard output.
func helpCommand(ctx context.Context, cmds map[string]command, name string, io stdio) error {
	c, ok := cmds[name]
	if !ok {
		usageList(io.err, cmds)
		return usageError{fmt.Sprintf("help %q: unknown command", name)}
	}
	io.err = io.out
	if err := c.run(ctx, []string{"-h"}, io); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

func usageList(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: dfaas <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"dfaas <command> -h\" for a command's flags.")
}

// newFlagSet returns the flag set of subcommand name: it reports errors
// instead of exiting, and prints nothing itself (parseFlags does).
func newFlagSet(name string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("dfaas "+name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		synopsis, about := help(name)
		fmt.Fprintf(fs.Output(), "Usage:\n  %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and rejects positional arguments. With
// -h it prints the command's usage; a bad flag is a usage error that
// names the flag and the form it wants.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	usageFn := fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usageFn
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError{fmt.Sprintf("%s (see %s -h)", usage.FlagError(fs, err), fs.Name())}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
