package minikube

import "testing"

func TestParseMemoryAsMinikubeDoes(t *testing.T) {
	good := map[string]int{
		"8192": 8192, "8G": 8192, "8g": 8192, "8GB": 8192, "8gb": 8192, "8GiB": 8192, "8192mb": 8192,
		"8192MB": 8192, "8192m": 8192, "1.5g": 1536, "2048 MB": 2048, "1800": 1800, "4194304k": 4096,
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

func TestFormatMemoryRoundTrips(t *testing.T) {
	for _, mb := range []int{1800, 2048, 8192, 12000} {
		back, err := ParseMemory(FormatMemory(mb))
		if err != nil || back != mb {
			t.Errorf("%d → %q → %d, %v", mb, FormatMemory(mb), back, err)
		}
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"8G", "8192", "1.5g", "8GiB", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mb, err := ParseMemory(s)
		if err == nil && mb < 0 {
			t.Errorf("ParseMemory(%q) = %d, negative", s, mb)
		}
	})
}
