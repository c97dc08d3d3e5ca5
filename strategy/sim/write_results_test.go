package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/strategy"
)

func TestWriteResults(t *testing.T) {
	var b strings.Builder
	if err := WriteResults(&b, &Scenario{}, nil, nil, false); err == nil {
		t.Error("no result: no error")
	}
	sc, err := OpenScenario("testbed-2-mid-multi")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = Duration(20 * time.Second)
	r, err := Run(context.Background(), sc, Config{Strategy: "alllocal", Factory: strategy.NewFactory(func() strategy.AllLocal { return strategy.AllLocal{} })})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResults(&b, sc, []Result{r}, []time.Duration{time.Second}, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"scenario " + sc.Name + ": ", "oracle success rate", "alllocal"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
