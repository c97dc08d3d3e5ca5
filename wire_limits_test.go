package dfaas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/strategy"
)

// TestDecodeMessageCountLimits: every count and length limit of a peer
// message holds exactly: a message at the limit decodes, one just above it
// is dropped as invalid (whatever the size limit lets through), and
// EncodeMessage refuses to send it.
func TestDecodeMessageCountLimits(t *testing.T) {
	functions := func(n int) func(m *StateMessage) {
		return func(m *StateMessage) {
			m.Announcement.Functions = make([]strategy.FunctionState, n)
			for i := range n {
				m.Announcement.Functions[i] = strategy.FunctionState{Name: fmt.Sprintf("f%05d", i)}
			}
		}
	}
	grants := func(n int) func(m *StateMessage) {
		return func(m *StateMessage) {
			m.Announcement.Grants = make([]strategy.Grant, n)
			for i := range n {
				m.Announcement.Grants[i] = strategy.Grant{To: "a", Function: fmt.Sprintf("f%05d", i), Rate: 1}
			}
		}
	}
	proxy := func(n int) func(m *StateMessage) {
		return func(m *StateMessage) {
			prefix := "http://x:1/"
			m.Proxy = prefix + strings.Repeat("p", n-len(prefix))
		}
	}
	data := func(n int) func(m *StateMessage) {
		return func(m *StateMessage) {
			m.Announcement.Data = []byte(`"` + strings.Repeat("d", n-2) + `"`)
		}
	}
	tests := []struct {
		name       string
		atLimit    func(m *StateMessage)
		aboveLimit func(m *StateMessage)
		want       string
	}{
		{"functions", functions(maxAnnouncedFunctions), functions(maxAnnouncedFunctions + 1), "4097 functions"},
		{"grants", grants(maxAnnouncedGrants), grants(maxAnnouncedGrants + 1), "4097 grants"},
		{"proxy URL length", proxy(maxURLLen), proxy(maxURLLen + 1), "proxy URL longer than 512"},
		{"announcement data", data(strategy.MaxAnnouncementData), data(strategy.MaxAnnouncementData + 1), "data is 16385 bytes"},
	}
	const maxSize = 16 << 20 // far above any message here: only the count limits apply
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://x:1"}
			tt.atLimit(&m)
			b, err := EncodeMessage(m)
			if err != nil {
				t.Fatalf("message at the limit not encoded: %v", err)
			}
			if _, err := DecodeMessage(b, maxSize); err != nil {
				t.Fatalf("message at the limit dropped: %v", err)
			}
			m = StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://x:1"}
			tt.aboveLimit(&m)
			if _, err := EncodeMessage(m); err == nil {
				t.Fatal("message above the limit encoded")
			}
			b, err = json.Marshal(m) // what a hostile peer sends
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeMessage(b, maxSize)
			var me *MessageError
			if !errors.As(err, &me) || me.Reason != DropInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("message above the limit: got %v, want %s mentioning %q", err, DropInvalid, tt.want)
			}
		})
	}
}
