package english

import "testing"

func TestAgreement(t *testing.T) {
	for _, c := range []struct {
		n         int
		count, be string
	}{
		{0, "0 image archives", "are"},
		{1, "1 image archive", "is"},
		{2, "2 image archives", "are"},
	} {
		if got := Count(c.n, "image archive"); got != c.count {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.count)
		}
		if got := Be(c.n); got != c.be {
			t.Errorf("Be(%d) = %q, want %q", c.n, got, c.be)
		}
	}
}
