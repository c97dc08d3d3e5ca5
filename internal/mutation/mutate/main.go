// Command mutate runs mutation testing over packages of this module and
// prints, per package, how many mutants the tests killed. See package
// internal/mutation and scripts/mutation.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dfaas-go/dfaas/internal/mutation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := mutation.Config{}
	flag.IntVar(&cfg.Workers, "workers", 2, "tests run at the same time")
	flag.DurationVar(&cfg.MinTimeout, "timeout", 10*time.Second, "a mutant's test times out after this, or -factor times its unmutated run time if longer")
	flag.Float64Var(&cfg.Factor, "factor", 5, "timeout factor over a test's unmutated run time")
	flag.IntVar(&cfg.Max, "max", 0, "run at most this many covered mutants per package, spread evenly over them (0: all)")
	flag.DurationVar(&cfg.Budget, "budget", 0, "bound the whole run to about this long: each package gets an equal share of the time left and runs a pseudo-random sample of its mutants in it (0: no bound)")
	list := flag.Bool("list", false, "list the mutants (ID, position, operator, change) and run nothing")
	survivors := flag.Bool("survivors", true, "list the surviving mutants")
	keep := flag.Bool("keep", false, "keep the scratch directory (rewritten files, binaries, coverage) and print its path")
	only := flag.String("only", "", "run only these mutant IDs (comma-separated; with one package)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mutate [flags] package...")
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg.Packages = flag.Args()
	if len(cfg.Packages) == 0 {
		return fmt.Errorf("no packages given")
	}
	if *only != "" {
		cfg.Only = map[int]bool{}
		for _, s := range strings.Split(*only, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("flag -only: %w", err)
			}
			cfg.Only[id] = true
		}
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	cfg.ModuleRoot = root
	cfg.Work, err = os.MkdirTemp("", "dfaas-mutation-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintln(os.Stderr, "scratch directory:", cfg.Work)
	} else {
		defer os.RemoveAll(cfg.Work)
	}
	cfg.Log = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *list {
		pkgs, err := mutation.Mutants(ctx, cfg)
		for _, p := range pkgs {
			for _, m := range p.Mutants {
				fmt.Printf("%s #%d %s %s %s\n", p.ImportPath, m.ID, m.Pos(root), m.Kind, m.Desc)
			}
		}
		return err
	}
	start := time.Now()
	results, err := mutation.Run(ctx, cfg)
	if *survivors {
		mutation.WriteSurvivors(os.Stdout, results, filepath.Clean(root))
	}
	fmt.Println()
	if werr := mutation.WriteTable(os.Stdout, results); werr != nil {
		return werr
	}
	fmt.Printf("\ntotal %s, %d workers\n", time.Since(start).Round(time.Second), cfg.Workers)
	return err
}
