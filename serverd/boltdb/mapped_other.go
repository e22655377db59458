//go:build !linux

package boltdb

import "errors"

const trimSupported = false

func dontNeed(uintptr, int64) error { return errors.ErrUnsupported }

func residentMapped() (int64, bool) { return 0, false }

func mappedBranches(uintptr, int64, int, int64) []pageRun { return nil }
