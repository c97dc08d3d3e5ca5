package report

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/dfaas-go/dfaas/internal/golden"
)

// TestWriteTable pins the text table of dfaas bench.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "table.txt.golden"), b.Bytes())
}
