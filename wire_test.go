package dfaas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/strategy"
)

func validMessage() dfaas.StateMessage {
	return dfaas.StateMessage{
		Version: dfaas.WireVersion, Type: "state", Incarnation: 1700000000000000000, Seq: 7, Proxy: "http://10.0.0.2:30080", Token: strings.Repeat("0f", 32),
		Announcement: strategy.Announcement{
			Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 100, Offered: 20, Load: 20, Spare: 80}},
			Grants:    []strategy.Grant{{To: "a", Function: "figlet", Rate: 40}},
			Resources: strategy.Resources{CPU: 1.5, CPUCores: 4},
			Data:      []byte(`{"margin":0.3}`),
		},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	m := validMessage()
	b, err := dfaas.EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dfaas.DecodeMessage(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Incarnation != m.Incarnation || got.Seq != m.Seq || got.Proxy != m.Proxy || got.Token != m.Token || !got.Announcement.Equal(m.Announcement) {
		t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
	}
}

// TestMessageFunctionUsage: the measured per-function CPU and memory
// travel in the announcement, and are omitted when unknown (so that the
// message of a node without per-container metrics is unchanged).
func TestMessageFunctionUsage(t *testing.T) {
	m := validMessage()
	m.Announcement.Functions[0].CPU, m.Announcement.Functions[0].Memory = 0.75, 128<<20
	b, err := dfaas.EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"cpu":0.75,"memory":134217728`) {
		t.Errorf("encoded %s: no cpu and memory", b)
	}
	got, err := dfaas.DecodeMessage(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fs := got.Announcement.Functions[0]; fs.CPU != 0.75 || fs.Memory != 128<<20 {
		t.Errorf("decoded %+v", fs)
	}
	plain, err := dfaas.EncodeMessage(validMessage())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `"excess":0}]`) {
		t.Errorf("unknown usage is encoded: %s", plain)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	tok := strings.Repeat("0f", 32)
	tests := []struct {
		name, data, reason string
	}{
		{"not json", `hello`, dfaas.DropMalformed},
		{"array", `[]`, dfaas.DropMalformed},
		{"no version", `{"type":"state"}`, dfaas.DropMalformed},
		{"old version", `{"v":1,"type":"state","seq":1,"proxy":"http://x:1"}`, dfaas.DropVersion},
		{"future version", `{"v":3,"type":"state","whatever":1}`, dfaas.DropVersion},
		{"no incarnation", `{"v":2,"type":"state","seq":1,"proxy":"http://x:1"}`, dfaas.DropInvalid},
		{"other type", `{"v":2,"type":"gossip"}`, dfaas.DropVersion},
		{"unknown field", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","x":1}`, dfaas.DropMalformed},
		{"unknown nested field", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","x":1}]}}`, dfaas.DropMalformed},
		{"trailing data", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `"} {}`, dfaas.DropMalformed},
		{"wrong type", `{"v":2,"type":"state","inc":1,"seq":"1","proxy":"http://x:1","token":"` + tok + `"}`, dfaas.DropMalformed},
		{"bad proxy", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"file:///etc/passwd","token":"` + tok + `"}`, dfaas.DropInvalid},
		{"proxy with user", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://u:p@x:1","token":"` + tok + `"}`, dfaas.DropInvalid},
		{"short token", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"ab"}`, dfaas.DropInvalid},
		{"upper-case token", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + strings.ToUpper(tok) + `"}`, dfaas.DropInvalid},
		{"negative spare", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":-1,"excess":0}]}}`, dfaas.DropInvalid},
		{"negative cpu", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0,"cpu":-0.5}]}}`, dfaas.DropInvalid},
		{"negative memory", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0,"memory":-1}]}}`, dfaas.DropInvalid},
		{"NaN cpu", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0,"cpu":NaN}]}}`, dfaas.DropMalformed},
		{"huge memory", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0,"memory":1e400}]}}`, dfaas.DropMalformed},
		{"bad name", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"functions":[{"name":"../etc","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0}]}}`, dfaas.DropInvalid},
		{"huge number", `{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + tok + `","ann":{"grants":[{"to":"a","function":"f","rate":1e400}]}}`, dfaas.DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dfaas.DecodeMessage([]byte(tt.data), 0)
			var me *dfaas.MessageError
			if !errors.As(err, &me) || me.Reason != tt.reason {
				t.Fatalf("got %v, want a MessageError with reason %q", err, tt.reason)
			}
		})
	}
	if _, err := dfaas.DecodeMessage(make([]byte, 100), 50); err == nil || !strings.Contains(err.Error(), dfaas.DropOversize) {
		t.Fatalf("oversized: %v", err)
	}
}

// FuzzDecodeMessage: decoding never panics, and whatever it accepts is
// valid and survives a round trip unchanged.
func FuzzDecodeMessage(f *testing.F) {
	b, _ := dfaas.EncodeMessage(validMessage())
	f.Add(b)
	f.Add([]byte(`{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","token":"` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":2,"type":"state","inc":1,"seq":1,"proxy":"http://x:1","ann":{"functions":[{"name":"f","deployed":true,"capacity":1,"offered":0,"load":0,"spare":0,"excess":0,"cpu":0.5,"memory":-1e9}]}}`))
	f.Add([]byte(`{"v":2,"type":"state","inc":1,"ann":{"data":[1,{"a":null}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dfaas.DecodeMessage(data, 4096)
		if err != nil {
			var me *dfaas.MessageError
			if !errors.As(err, &me) {
				t.Fatalf("error is not a MessageError: %v", err)
			}
			return
		}
		if err := m.Announcement.Validate(); err != nil {
			t.Fatalf("accepted an invalid announcement: %v", err)
		}
		b, err := dfaas.EncodeMessage(m)
		if err != nil {
			t.Fatalf("cannot re-encode an accepted message: %v", err)
		}
		m2, err := dfaas.DecodeMessage(b, len(b))
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
		if m2.Incarnation != m.Incarnation || m2.Seq != m.Seq || m2.Proxy != m.Proxy || m2.Token != m.Token || !m2.Announcement.Equal(m.Announcement) {
			t.Fatal("round trip changed an accepted message")
		}
	})
}
