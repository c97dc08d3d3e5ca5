package report

import (
	"bytes"
	"testing"
)

// TestWriteTable pins the text table of dfaas bench.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.txt.golden", b.Bytes())
}
