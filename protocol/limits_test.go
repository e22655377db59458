package protocol_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// Chosen names every field of Limits but MaxIDBytes, fixed by the protocol,
// by its wire name (its msgpack key) and its Go name, and points at it.
func TestChosenLimitsAreEveryLimitButTheFixedOne(t *testing.T) {
	var l protocol.Limits
	want := map[string]string{} // Go name -> wire name
	lt := reflect.TypeOf(l)
	for i := range lt.NumField() {
		if f := lt.Field(i); f.Name != "MaxIDBytes" {
			want[f.Name] = f.Tag.Get("msgpack")
		}
	}
	got := map[string]string{}
	for k, f := range l.Chosen() {
		got[f.Go] = f.Wire
		*f.V = k + 1
		require.Equal(t, k+1, int(reflect.ValueOf(l).FieldByName(f.Go).Int()), "%s points at its field", f.Go)
	}
	require.Equal(t, want, got)
}
