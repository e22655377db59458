package changelog_test

import (
	"testing"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/changelog/changelogtest"
)

func TestMemLogContract(t *testing.T) {
	changelogtest.Run(t, func(t *testing.T, fn func(changelog.Log)) { fn(&changelog.MemLog{}) })
}
