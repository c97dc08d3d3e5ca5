package dfaas_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/strategy"
)

// TestMessageLimits: each limit of a peer message holds exactly at its
// value, on encoding and on decoding: the proxy URL's length and scheme,
// the number of announced functions and grants, the version and type.
func TestMessageLimits(t *testing.T) {
	fns := func(n int) []strategy.FunctionState {
		out := make([]strategy.FunctionState, n)
		for i := range out {
			out[i] = strategy.FunctionState{Name: fmt.Sprintf("f%05d", i)}
		}
		return out
	}
	grants := func(n int) []strategy.Grant {
		out := make([]strategy.Grant, n)
		for i := range out {
			out[i] = strategy.Grant{To: "a", Function: fmt.Sprintf("f%05d", i), Rate: 1}
		}
		return out
	}
	long := "http://x:1/" + strings.Repeat("p", 512-len("http://x:1/"))
	tests := []struct {
		name   string
		change func(m *dfaas.StateMessage)
		reason string // "" when valid
	}{
		{"valid", func(m *dfaas.StateMessage) {}, ""},
		{"https proxy with a certificate", func(m *dfaas.StateMessage) { m.Proxy, m.Cert = "https://x:1", []byte{1} }, ""},
		{"https proxy without a certificate", func(m *dfaas.StateMessage) { m.Proxy = "https://x:1" }, dfaas.DropInvalid},
		{"http proxy with a certificate", func(m *dfaas.StateMessage) { m.Cert = []byte{1} }, dfaas.DropInvalid},
		{"certificate of 2048 bytes", func(m *dfaas.StateMessage) { m.Proxy, m.Cert = "https://x:1", make([]byte, 2048) }, ""},
		{"certificate of 2049 bytes", func(m *dfaas.StateMessage) { m.Proxy, m.Cert = "https://x:1", make([]byte, 2049) }, dfaas.DropInvalid},
		{"proxy of 512 bytes", func(m *dfaas.StateMessage) { m.Proxy = long }, ""},
		{"proxy of 513 bytes", func(m *dfaas.StateMessage) { m.Proxy = long + "p" }, dfaas.DropInvalid},
		{"ftp proxy", func(m *dfaas.StateMessage) { m.Proxy = "ftp://x:1" }, dfaas.DropInvalid},
		{"proxy without host", func(m *dfaas.StateMessage) { m.Proxy = "http:///p" }, dfaas.DropInvalid},
		{"unparsable proxy", func(m *dfaas.StateMessage) { m.Proxy = "http://[::1" }, dfaas.DropInvalid},
		{"no token", func(m *dfaas.StateMessage) { m.Token = "" }, ""},
		{"4096 functions", func(m *dfaas.StateMessage) { m.Announcement.Functions = fns(4096) }, ""},
		{"4097 functions", func(m *dfaas.StateMessage) { m.Announcement.Functions = fns(4097) }, dfaas.DropInvalid},
		{"4096 grants", func(m *dfaas.StateMessage) { m.Announcement.Grants = grants(4096) }, ""},
		{"4097 grants", func(m *dfaas.StateMessage) { m.Announcement.Grants = grants(4097) }, dfaas.DropInvalid},
		{"unsorted functions", func(m *dfaas.StateMessage) {
			m.Announcement.Functions = []strategy.FunctionState{{Name: "b"}, {Name: "a"}}
		}, dfaas.DropInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			m.Announcement.Functions, m.Announcement.Grants = nil, nil
			tt.change(&m)
			b, encErr := dfaas.EncodeMessage(m)
			if tt.reason == "" {
				if encErr != nil {
					t.Fatalf("encode: %v", encErr)
				}
				got, err := dfaas.DecodeMessage(b, 1<<20)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if got.Proxy != m.Proxy || len(got.Announcement.Functions) != len(m.Announcement.Functions) || len(got.Announcement.Grants) != len(m.Announcement.Grants) {
					t.Fatalf("decoded %+v", got)
				}
				return
			}
			var me *dfaas.MessageError
			if !errors.As(encErr, &me) || me.Reason != tt.reason {
				t.Errorf("encode: got %v, want reason %q", encErr, tt.reason)
			}
			// Encode the invalid message by hand to check the decoder too.
			m.Version = dfaas.WireVersion
			raw := encodeUnchecked(t, m)
			if _, err := dfaas.DecodeMessage(raw, 1<<20); !errors.As(err, &me) || me.Reason != tt.reason {
				t.Errorf("decode: got %v, want reason %q", err, tt.reason)
			}
		})
	}
}

// TestEncodeRejectsVersionAndType: the encoder writes only messages of this
// version and type.
func TestEncodeRejectsVersionAndType(t *testing.T) {
	for _, change := range []func(m *dfaas.StateMessage){
		func(m *dfaas.StateMessage) { m.Version = dfaas.WireVersion + 1 },
		func(m *dfaas.StateMessage) { m.Type = "gossip" },
	} {
		m := validMessage()
		change(&m)
		var me *dfaas.MessageError
		if _, err := dfaas.EncodeMessage(m); !errors.As(err, &me) || me.Reason != dfaas.DropVersion {
			t.Errorf("%+v: got %v, want reason %q", m, err, dfaas.DropVersion)
		}
	}
}

// TestDecodeCompactsData: the strategy's data arrives in canonical
// (compact) form, so that equal data compares equal.
func TestDecodeCompactsData(t *testing.T) {
	tok := strings.Repeat("0f", 32)
	raw := `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"data":{ "margin" : 0.3 , "b": [1, 2] }}}`
	m, err := dfaas.DecodeMessage([]byte(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(m.Announcement.Data), `{"margin":0.3,"b":[1,2]}`; got != want {
		t.Errorf("data %s, want %s", got, want)
	}
}

// encodeUnchecked encodes m without the encoder's validation.
func encodeUnchecked(t *testing.T, m dfaas.StateMessage) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
