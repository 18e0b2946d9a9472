package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/svcgraph/svcgraph/internal/reason"
)

func TestTransferBar(t *testing.T) {
	tr := Transfer{BytesDone: 500_000_000, BytesTotal: 2_000_000_000, ItemsDone: 6, ItemsTotal: 26, Items: "images"}
	got := tr.bar(10 * time.Second)
	want := "[█████░░░░░░░░░░░░░░░] 500 MB of 2.0 GB, 6/26 images, 50.0 MB/s, ETA 30s"
	if got != want {
		t.Errorf("bar:\n got %q\nwant %q", got, want)
	}
	// Under a second there is no rate to speak of, and no ETA.
	if got := tr.bar(500 * time.Millisecond); strings.Contains(got, "/s") || strings.Contains(got, "ETA") {
		t.Errorf("bar after half a second: %q", got)
	}
	for n, want := range map[int64]string{999: "999 B", 1000: "1.0 kB", 812_000_000: "812 MB", 2_900_000_000: "2.9 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// transferStep reports one transfer while it runs.
type transferStep struct{}

func (transferStep) ID() string    { return "images" }
func (transferStep) Title() string { return "Pulling images" }
func (transferStep) Run(_ context.Context, s *Session) error {
	s.Transfer(Transfer{BytesDone: 10, BytesTotal: 40, ItemsDone: 1, ItemsTotal: 4, Items: "images"})
	return nil
}

// JSON mode carries the numbers in a step_progress event; plain mode prints no bar at all.
func TestTransferEvents(t *testing.T) {
	var out bytes.Buffer
	if err := (&Runner{Out: &out, Mode: JSON, Now: tick()}).Run(context.Background(), Plan{transferStep{}}, &Session{}); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if e.Event == "step_progress" && e.Transfer != nil {
			found = true
			if *e.Transfer != (Transfer{BytesDone: 10, BytesTotal: 40, ItemsDone: 1, ItemsTotal: 4, Items: "images"}) || e.Message != "10 B of 40 B, 1/4 images" {
				t.Errorf("event %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("no step_progress event with a transfer:\n%s", out.String())
	}
	out.Reset()
	if err := (&Runner{Out: &out, Mode: Plain, Now: tick()}).Run(context.Background(), Plan{transferStep{}}, &Session{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "█") || strings.Contains(out.String(), "10 B") {
		t.Errorf("plain output shows the transfer:\n%s", out.String())
	}
}

// up --offline never adds Helm repositories, checks the cache right after the render (before
// minikube starts) and the node right before the install.
func TestOfflinePlan(t *testing.T) {
	var ids []string
	for _, st := range UpPlan(Config{Offline: true, NoForward: true, NoVerify: true}) {
		ids = append(ids, st.ID())
	}
	if got, want := strings.Join(ids, " "), "preflight charts image-cache minikube fit budget load-images images-on-node install wait"; got != want {
		t.Errorf("up --offline plan:\n got %s\nwant %s", got, want)
	}
}

func TestValidateWorkshop(t *testing.T) {
	ok := Config{Platform: "linux/arm64", Workers: 4, RegistryMirrors: []string{"docker.io=http://127.0.0.1:5000"}}
	if err := ok.ValidateWorkshop(); err != nil {
		t.Fatalf("valid flags refused: %v", err)
	}
	for name, c := range map[string]Config{
		"platform":   {Platform: "windows/amd64", Workers: 4},
		"mirror":     {Platform: "linux/amd64", Workers: 4, RegistryMirrors: []string{"docker.io"}},
		"two":        {Platform: "linux/amd64", Workers: 4, RegistryMirrors: []string{"docker.io=http://a", "docker.io=http://b"}},
		"workers":    {Platform: "linux/amd64", Workers: 0},
		"bundle×two": {Platform: "linux/amd64", Workers: 4, Bundle: "a", FromBundle: "b"},
	} {
		var re *reason.Error
		if err := c.ValidateWorkshop(); !errors.As(err, &re) || re.Kind != reason.Usage {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// --offline loads images through minikube: with --context it is refused before anything runs.
func TestOfflineRefusedOnAnExistingContext(t *testing.T) {
	c := Config{Profile: "svcgraph", Namespace: "otel-demo", Release: "my-otel-demo", Context: "kind-lab", Offline: true}
	var re *reason.Error
	if err := c.Target().validate(c); !errors.As(err, &re) || re.Kind != reason.Usage || !strings.Contains(re.Advise(), "leave out --context") {
		t.Fatalf("up --offline --context = %v, want a usage error saying to leave out --context", err)
	}
	c.Context = ""
	if err := c.Target().validate(c); err != nil {
		t.Fatalf("up --offline on the minikube profile refused: %v", err)
	}
}
