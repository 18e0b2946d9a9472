package minikube

import (
	"strings"
	"testing"
)

func TestParseMemoryAsMinikubeDoes(t *testing.T) {
	good := map[string]int{
		"8192": 8192, "8G": 8192, "8g": 8192, "8GB": 8192, "8gb": 8192, "8GiB": 8192, "8192mb": 8192,
		"8192MB": 8192, "8192m": 8192, "1.5g": 1536, "2048 MB": 2048, "1800": 1800, "4194304k": 4096,
		"2147483647": MaxMemoryMB, "1p": 1 << 30,
	}
	for in, want := range good {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "eight", "8X", "-1", "8 GB extra", "max"} {
		if got, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", in, got)
		}
	}
}

// Sizes that do not fit are refused, not wrapped around to negative numbers (an int64 of bytes
// overflows) nor read as bytes (a bare number too long for strconv.ParseInt).
func TestParseMemoryRefusesWhatDoesNotFit(t *testing.T) {
	for _, in := range []string{"2147483648", "9223372036854775807", "99999999999999999999", "8796093022208g",
		"2048p", "1" + strings.Repeat("0", 400), "1" + strings.Repeat("0", 400) + "g"} {
		if got, err := ParseMemory(in); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("ParseMemory(%q) = %d, %v; want a 'too large' error", in, got, err)
		}
	}
}

func TestFormatMemoryRoundTrips(t *testing.T) {
	for _, mb := range []int{1800, 2048, 8192, 12000, MaxMemoryMB} {
		back, err := ParseMemory(FormatMemory(mb))
		if err != nil || back != mb {
			t.Errorf("%d → %q → %d, %v", mb, FormatMemory(mb), back, err)
		}
	}
}

// FuzzParseMemory: whatever is accepted is a size svcgraph can hand on — between 0 and
// MaxMemoryMB, and printed by FormatMemory in a form that reads back to the same size.
func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"8G", "8192", "1.5g", "8GiB", "x", "9223372036854775807", "1.9999p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mb, err := ParseMemory(s)
		if err != nil {
			return
		}
		if mb < 0 || mb > MaxMemoryMB {
			t.Fatalf("ParseMemory(%q) = %d, outside 0..%d", s, mb, MaxMemoryMB)
		}
		if back, err := ParseMemory(FormatMemory(mb)); err != nil || back != mb {
			t.Fatalf("ParseMemory(%q) = %d, but %q reads back as %d, %v", s, mb, FormatMemory(mb), back, err)
		}
	})
}
