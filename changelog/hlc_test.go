package changelog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
)

func TestClockIsMonotonicWhenWallTimeStandsStillOrGoesBack(t *testing.T) {
	wall := time.UnixMilli(5000)
	c := changelog.NewClock(func() time.Time { return wall })
	a := c.Now()
	b := c.Now()
	require.Greater(t, b, a)
	wall = time.UnixMilli(1000) // clock stepped back
	require.Greater(t, c.Now(), b)
	c.Observe(changelog.NewHLC(9000, 3))
	require.Greater(t, c.Now(), changelog.NewHLC(9000, 3))
	require.Equal(t, uint64(5000), a.Millis())
	require.Equal(t, "1970-01-01T00:00:05.000Z+0", a.String())
}
