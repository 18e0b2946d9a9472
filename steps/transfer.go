package steps

import (
	"fmt"
	"strings"
	"time"
)

// Transfer is how far a step that moves bytes has come (pulling images, loading them, bundles):
// a bar with bytes, rate and ETA on a terminal, an event with the numbers in --output json, and
// nothing in plain mode, where the step prints a line per finished item instead.
type Transfer struct {
	BytesDone  int64  `json:"bytesDone"`
	BytesTotal int64  `json:"bytesTotal"`
	ItemsDone  int    `json:"itemsDone"`
	ItemsTotal int    `json:"itemsTotal"`
	Items      string `json:"items"` // what the items are: "images"
}

// Transfer shows the running step's transfer.
func (s *Session) Transfer(t Transfer) {
	if s.runner != nil {
		s.runner.transfer(t)
	}
}

func (r *Runner) transfer(t Transfer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return
	}
	switch r.Mode {
	case JSON:
		r.emit(Event{Event: "step_progress", Step: r.cur.ID(), Message: t.summary(), Transfer: &t})
	case Terminal:
		if r.transferStart.IsZero() || r.transferStep != r.cur {
			r.transferStart, r.transferStep = r.now(), r.cur
		}
		if r.spin != nil {
			r.spin.Lock()
			r.spin.Suffix = " " + r.cur.Title() + ": " + t.bar(r.now().Sub(r.transferStart))
			r.spin.Unlock()
		}
	}
}

// summary is one line without a bar: "1.2 GB of 2.9 GB, 12/26 images".
func (t Transfer) summary() string {
	s := Bytes(t.BytesDone) + " of " + Bytes(t.BytesTotal)
	if t.ItemsTotal > 0 {
		s += fmt.Sprintf(", %d/%d %s", t.ItemsDone, t.ItemsTotal, t.Items)
	}
	return s
}

const barWidth = 20

// bar is "[███████░░░░░] 1.2 GB of 2.9 GB, 12/26 images, 45 MB/s, ETA 38s".
func (t Transfer) bar(elapsed time.Duration) string {
	filled := 0
	if t.BytesTotal > 0 {
		filled = int(float64(barWidth) * float64(min(t.BytesDone, t.BytesTotal)) / float64(t.BytesTotal))
	}
	s := "[" + strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled) + "] " + t.summary()
	if secs := elapsed.Seconds(); secs >= 1 && t.BytesDone > 0 {
		rate := float64(t.BytesDone) / secs
		s += ", " + Bytes(int64(rate)) + "/s"
		if left := t.BytesTotal - t.BytesDone; left > 0 {
			s += ", ETA " + time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second).String()
		}
	}
	return s
}

// Bytes prints a size in decimal units, as registries and docker do: "812 MB", "2.9 GB".
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	prefix := "kMGTP"[exp-1 : exp]
	if v >= 100 {
		return fmt.Sprintf("%.0f %sB", v, prefix)
	}
	return fmt.Sprintf("%.1f %sB", v, prefix)
}
