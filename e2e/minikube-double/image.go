package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// `minikube image load FILE…` and `minikube image ls`, as minikube v1.38.1's cmd/minikube/cmd/
// image.go and pkg/minikube/machine/cache_images.go do them for a node whose runtime is
// containerd: an archive (docker-save manifest.json or OCI index.json) is imported when its blobs
// are whole and it is for the node's architecture; the image is then listed with its tag and its
// repo digest, and the node reports it in status.images as a kubelet does.

func init() {
	commandFlags["image load"] = []flagSpec{{"pull", "", boolFlag}, {"daemon", "", boolFlag}, {"remote", "", boolFlag}, {"overwrite", "", boolFlag}}
	commandFlags["image ls"] = []flagSpec{{"format", "", valueFlag}}
}

// imageCommand maps `image ls` and its alias `image list` to one name.
func imageCommand(sub string) string {
	if sub == "list" {
		return "ls"
	}
	return sub
}

// listImage is minikube's cruntime.ListImage, the JSON of `image ls --format json`.
type listImage struct {
	ID          string   `json:"id"`
	RepoDigests []string `json:"repoDigests"`
	RepoTags    []string `json:"repoTags"`
	Size        string   `json:"size"`
}

func (s store) imagesPath(profile string) string {
	return filepath.Join(s.dir, "images", profile+".json")
}

func (s store) images(profile string) ([]listImage, error) {
	b, err := os.ReadFile(s.imagesPath(profile))
	if errors.Is(err, os.ErrNotExist) {
		return []listImage{}, nil
	}
	if err != nil {
		return nil, err
	}
	var l []listImage
	return l, json.Unmarshal(b, &l)
}

func (s store) saveImages(profile string, l []listImage) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	path := s.imagesPath(profile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadedProfile is config.LoadProfile as the image commands use it: a profile that does not
// exist (an invalid one, a directory without a config, counts as none) or whose config does not
// parse is exit.Error(reason.Usage, "loading profile", err), exit 14 with the bug-report box.
func loadedProfile(p *printer, st store, in invocation) *Profile {
	usage := kind{id: "MK_USAGE", code: exProgramUsage, issueLink: true}
	prof, err := st.load(in.profile())
	if cerr, ok := err.(configError); ok {
		p.exitWith(usage, "loading profile: "+cerr.Error())
	}
	if err != nil {
		fatal(err)
	}
	if prof == nil || prof.Status == invalid {
		p.exitWith(usage, fmt.Sprintf("loading profile: cluster %q does not exist", in.profile()))
	}
	return prof
}

// machineRunning: minikube loads into and lists from running machines only (a paused node's
// machine runs).
func machineRunning(prof *Profile) bool { return prof.Status == running || prof.Status == paused }

func imageList(p *printer, st store, in invocation) {
	prof := loadedProfile(p, st, in)
	list := []listImage{}
	if machineRunning(prof) {
		var err error
		if list, err = st.images(prof.Name); err != nil {
			fatal(err)
		}
	}
	switch format := in.values["format"]; format {
	case "json":
		b, _ := json.Marshal(list)
		fmt.Fprintf(p.stdout, "%s\n", b)
	case "", "short":
		var tags []string
		for _, img := range list {
			tags = append(tags, img.RepoTags...)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(tags)))
		fmt.Fprintf(p.stdout, "%s\n", strings.Join(tags, "\n"))
	default:
		fatal(fmt.Errorf("image ls --format %s: the double prints json and short only", format))
	}
}

func imageLoad(p *printer, st store, in invocation) {
	if len(in.args) == 0 {
		p.exitWith(kind{id: "MK_USAGE", code: exProgramUsage}, "Please provide an image in your local daemon to load into minikube via <minikube image load IMAGE_NAME>")
	}
	prof := loadedProfile(p, st, in)
	for _, a := range in.args {
		if !strings.HasPrefix(a, "/") && !strings.HasPrefix(a, ".") {
			if _, err := os.Stat(a); err != nil {
				fatal(fmt.Errorf("image load %s: the double loads archive files only, not images from a daemon or registry", a))
			}
		}
	}
	if !machineRunning(prof) {
		return // "the not running hosts will load on next start": nothing, and exit 0
	}
	list, err := st.images(prof.Name)
	if err != nil {
		fatal(err)
	}
	for _, file := range in.args {
		img, err := readArchive(file)
		if errors.Is(err, errNotOCI) {
			fatal(fmt.Errorf("image load %s: %w", file, err))
		}
		if err != nil {
			// minikube logs the runtime's refusal and still exits 0 ("Live pushes are not
			// considered a failure"); only a wrong architecture earns a warning.
			if errors.Is(err, errOtherArch) {
				p.warning("The image '%s' does not match arch of the container runtime, use a multi-arch image instead", file)
			}
			continue
		}
		list = mergeImage(list, img)
	}
	if err := st.saveImages(prof.Name, list); err != nil {
		fatal(err)
	}
	if err := reportOnNodes(list); err != nil {
		fatal(err)
	}
}

// mergeImage adds an image, taking its tags from any other image (as a tag names one image).
func mergeImage(list []listImage, img listImage) []listImage {
	var out []listImage
	for _, old := range list {
		if old.ID == img.ID {
			continue
		}
		old.RepoTags = without(old.RepoTags, img.RepoTags)
		out = append(out, old)
	}
	out = append(out, img)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func without(l, drop []string) []string {
	out := []string{}
	for _, x := range l {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var errOtherArch = errors.New("image might be filtered out")

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

// readArchive imports an archive as `ctr -n=k8s.io images import` would: every blob read and
// checked against its digest, the image named by the OCI index's io.containerd.image.name.
// errNotOCI is a fault of the double: containerd would import a docker-save-only archive too.
func readArchive(file string) (listImage, error) {
	f, err := os.Open(file)
	if err != nil {
		return listImage{}, err
	}
	defer f.Close()
	small := map[string][]byte{} // metadata files, manifests and configs
	blobs := map[string]int64{}  // blob digest → size, each checked
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return listImage{}, err
		}
		hexDigest, isBlob := strings.CutPrefix(h.Name, "blobs/sha256/")
		sum := sha256.New()
		var head limitedBuffer
		n, err := io.Copy(io.MultiWriter(sum, &head), tr)
		if err != nil {
			return listImage{}, err
		}
		if !isBlob {
			small[h.Name] = head.b
			continue
		}
		if hex.EncodeToString(sum.Sum(nil)) != hexDigest {
			return listImage{}, fmt.Errorf("%s: digest mismatch", h.Name)
		}
		blobs["sha256:"+hexDigest] = n
		if !head.over {
			small["sha256:"+hexDigest] = head.b
		}
	}
	idx, ok := small["index.json"]
	if !ok {
		return listImage{}, errNotOCI
	}
	var index struct{ Manifests []descriptor }
	if err := json.Unmarshal(idx, &index); err != nil || len(index.Manifests) != 1 {
		return listImage{}, fmt.Errorf("index.json: %v", err)
	}
	d := index.Manifests[0]
	var m struct {
		Config descriptor
		Layers []descriptor
	}
	if err := json.Unmarshal(small[d.Digest], &m); err != nil {
		return listImage{}, fmt.Errorf("manifest %s: %v", d.Digest, err)
	}
	size := blobs[d.Digest]
	for _, b := range append([]descriptor{m.Config}, m.Layers...) {
		n, ok := blobs[b.Digest]
		if !ok || n != b.Size {
			return listImage{}, fmt.Errorf("blob %s is missing", b.Digest)
		}
		size += n
	}
	var cfg struct{ Architecture string }
	if err := json.Unmarshal(small[m.Config.Digest], &cfg); err == nil && cfg.Architecture != "" && cfg.Architecture != nodeArch() {
		return listImage{}, errOtherArch
	}
	img := listImage{ID: m.Config.Digest, RepoDigests: []string{}, RepoTags: []string{}, Size: strconv.FormatInt(size, 10)}
	if name := d.Annotations["io.containerd.image.name"]; name != "" {
		name = normalise(name)
		repo := name
		if i := strings.LastIndex(repo, "@"); i >= 0 {
			repo = repo[:i]
		} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo, img.RepoTags = repo[:i], []string{name}
		}
		img.RepoDigests = []string{repo + "@" + d.Digest}
	}
	return img, nil
}

var errNotOCI = errors.New("the double imports archives with an OCI index.json only (containerd also takes docker-save ones)")

// limitedBuffer keeps the first MiB written to it: enough for any manifest or config.
type limitedBuffer struct {
	b    []byte
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := 1<<20 - len(l.b); n > room {
		l.over = true
		p = p[:max(room, 0)]
	}
	l.b = append(l.b, p...)
	return n, nil
}

// normalise spells a reference as containerd stores it: docker.io/library/busybox:latest.
func normalise(ref string) string {
	first, _, _ := strings.Cut(ref, "/")
	if !strings.Contains(ref, "/") {
		ref = "docker.io/library/" + ref
	} else if !strings.ContainsAny(first, ".:") && first != "localhost" {
		ref = "docker.io/" + ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.ContainsAny(last, ":@") {
		ref += ":latest"
	}
	return ref
}

// nodeArch is the node's architecture: the host's, as minikube's node matches its host.
func nodeArch() string {
	if a := os.Getenv("MINIKUBE_DOUBLE_NODE_ARCH"); a != "" {
		return a
	}
	return runtime.GOARCH
}

// Kubelet limits (pkg/kubelet/nodestatus and its defaults): at most 50 images, the biggest
// first, each with at most 5 names, repo digests before tags.
const (
	nodeStatusMaxImages          = 50
	maxNamesPerImageInNodeStatus = 5
)

// reportOnNodes sets status.images on every node of the handed-out cluster as a kubelet would
// report these images (other images already reported stay), when MINIKUBE_DOUBLE_NODE_IMAGES is
// true: the double's own tests hand out no real cluster.
func reportOnNodes(list []listImage) error {
	if os.Getenv("MINIKUBE_DOUBLE_NODE_IMAGES") != "true" {
		return nil
	}
	return forEachNode("report images on the nodes", func(ctx context.Context, cs kubernetes.Interface, n *corev1.Node) error {
		images := n.Status.Images
		for _, img := range list {
			names := append(append([]string{}, img.RepoDigests...), img.RepoTags...)
			if len(names) == 0 {
				continue
			}
			if len(names) > maxNamesPerImageInNodeStatus {
				names = names[:maxNamesPerImageInNodeStatus]
			}
			size, _ := strconv.ParseInt(img.Size, 10, 64)
			var kept []corev1.ContainerImage
			for _, old := range images {
				if !contains(old.Names, names[0]) {
					old.Names = without(old.Names, img.RepoTags)
					if len(old.Names) > 0 {
						kept = append(kept, old)
					}
				}
			}
			images = append(kept, corev1.ContainerImage{Names: names, SizeBytes: size})
		}
		sort.SliceStable(images, func(i, j int) bool { return images[i].SizeBytes > images[j].SizeBytes })
		if len(images) > nodeStatusMaxImages {
			images = images[:nodeStatusMaxImages]
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"images": images}})
		_, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	})
}
