// Package testenv says, in one voice for every test harness, that the machine lacks something a
// test needs.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Missing skips the test loudly, with msg saying what is missing and how to get it. Under
// CI=true it fails the test instead: CI runs scripts/test, which provides everything, so a
// missing tool there is a broken build, not a reason to skip.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but SKIPPED: " + msg)
	}
	banner := strings.Repeat("!", 80)
	t.Skip("\n" + banner + "\nSKIPPED: " + msg + "\n" + banner)
}
