package mutation

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes one row per package: the mutants killed, survived,
// timed out and not covered, and the efficacy.
func WriteTable(w io.Writer, results []PackageResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "package\tmutants\tkilled\tsurvived\ttimed out\tnot covered\tnot sampled\tefficacy\ttime\t")
	for _, p := range results {
		eff := "-"
		if e := p.Efficacy(); e >= 0 {
			eff = fmt.Sprintf("%.1f%%", e)
		}
		if p.Err != nil {
			eff = "error"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", p.ImportPath, len(p.Results),
			p.Count(Killed), p.Count(Survived), p.Count(TimedOut), p.Count(NotCovered), p.Count(Skipped),
			eff, p.Elapsed.Round(1e9))
	}
	return tw.Flush()
}

// WriteSurvivors lists each surviving mutant: where, which operator, what
// changed.
func WriteSurvivors(w io.Writer, results []PackageResult, root string) {
	for _, p := range results {
		if p.Err != nil {
			fmt.Fprintf(w, "%s: %v\n", p.ImportPath, p.Err)
		}
		for _, r := range p.Results {
			if r.Status == Survived {
				fmt.Fprintf(w, "survived %s %-8s %s (#%d)\n", r.Pos(strings.TrimSuffix(root, "/")), r.Kind, r.Desc, r.ID)
			}
		}
	}
}
