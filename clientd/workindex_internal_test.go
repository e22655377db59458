package clientd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkIndexFindsEveryWorkInAnyOrder: results normally come in the
// order of the uploads and are found where they are; a server that
// answers out of order, leaves results out or names an item that was not
// in the batch gets the same answers from the map.
func TestWorkIndexFindsEveryWorkInAnyOrder(t *testing.T) {
	ws := []work{{id: "a", edit: 1}, {id: "b", edit: 2}, {id: "c", edit: 3}}
	x := workIndex{ws: ws}
	for i, w := range ws {
		got, ok := x.find(i, w.id)
		require.True(t, ok)
		require.Equal(t, w.edit, got.edit)
	}
	require.Nil(t, x.m, "in order: no map")

	for _, at := range []int{-1, 0, 2, 7} {
		got, ok := x.find(at, "b")
		require.True(t, ok, "b found with the guess %d", at)
		require.Equal(t, uint64(2), got.edit)
	}
	_, ok := x.find(1, "z")
	require.False(t, ok, "an ID that was not in the batch")
	_, ok = (&workIndex{}).find(0, "a")
	require.False(t, ok, "an empty batch")
}
