package web_test

import (
	"testing"

	"liveroom/internal/pertest"
)

// Each test runs in a process of its own: see pertest.
func TestMain(m *testing.M) { pertest.Main(m) }
