package main

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/urfave/cli/v2"
	helmcli "helm.sh/helm/v3/pkg/cli"

	"github.com/svcgraph/svcgraph/chartmod"
	"github.com/svcgraph/svcgraph/images"
	"github.com/svcgraph/svcgraph/internal/minikube"
	"github.com/svcgraph/svcgraph/internal/reason"
	"github.com/svcgraph/svcgraph/steps"
)

// config turns the flags of the running command into one Config.
func config(c *cli.Context) (steps.Config, error) {
	cfg := steps.Config{
		Kubeconfig:      c.String("kubeconfig"),
		Profile:         c.String("profile"),
		Context:         c.String("context"),
		Namespace:       c.String("namespace"),
		Release:         c.String("release"),
		Verbose:         c.Bool("verbose"),
		RequestTimeout:  c.Duration("request-timeout"),
		CPUs:            c.Int("cpus"),
		Driver:          c.String("driver"),
		StorageClass:    c.String("storage-class"),
		DemoVersion:     c.String("demo-version"),
		TempoVersion:    c.String("tempo-version"),
		DemoRepo:        c.String("demo-repo"),
		TempoRepo:       c.String("tempo-repo"),
		ValuesFiles:     c.StringSlice("values"),
		SetValues:       c.StringSlice("set"),
		Timeout:         c.Duration("timeout"),
		Address:         c.String("address"),
		Port:            c.Int("port"),
		Detach:          c.Bool("detach"),
		NoForward:       c.Bool("no-forward"),
		NoVerify:        c.Bool("no-verify"),
		GraphTimeout:    c.Duration("graph-timeout"),
		StopCluster:     c.Bool("stop"),
		Preset:          c.String("preset"),
		CheckOnly:       c.Bool("check-only"),
		PurgeCluster:    c.Bool("purge"),
		Helm:            helmcli.New(),
		Offline:         c.Bool("offline"),
		Platform:        c.String("platform"),
		RegistryMirrors: c.StringSlice("registry-mirror"),
		Workers:         c.Int("workers"),
		Bundle:          c.String("bundle"),
		FromBundle:      c.String("from-bundle"),
		Version:         version,
	}
	if cfg.Platform == "" {
		cfg.Platform = images.HostPlatform(runtime.GOARCH).String()
	}
	if cfg.Output = c.String("output"); cfg.Output != "text" && cfg.Output != "json" {
		return cfg, reason.New(reason.Usage, "Use --output text or --output json.", "unknown --output %q", cfg.Output)
	}
	memory := c.String("memory")
	// The lite preset fits a smaller profile: it is the default size unless one is given.
	if cfg.Preset == chartmod.PresetLite {
		if !c.IsSet("cpus") {
			cfg.CPUs = liteCPUs
		}
		if !c.IsSet("memory") {
			memory = liteMemory
		}
	}
	if m := memory; m != "" {
		mb, err := minikube.ParseMemory(m)
		if err != nil {
			return cfg, reason.Wrap(reason.Usage, err, "Use a size such as --memory 8G or --memory 8192mb.", "bad --memory")
		}
		cfg.MemoryMB = mb
	}
	if cfg.RequestTimeout < 0 {
		return cfg, reason.New(reason.Usage, "Use a duration such as --request-timeout 30s, or 0 for no limit.", "--request-timeout %s is negative", cfg.RequestTimeout)
	}
	var err error
	if cfg.CacheDir, err = os.UserCacheDir(); err != nil {
		return cfg, reason.Wrap(reason.Usage, err, "Set HOME (or XDG_CACHE_HOME) so svcgraph has a cache directory.", "no cache directory")
	}
	cfg.CacheDir = filepath.Join(cfg.CacheDir, "svcgraph")
	cfg.StateDir = stateDir(cfg.CacheDir)
	checks := []func() error{cfg.Validate}
	if hasFlag(c.Command, "memory") {
		checks = append(checks, cfg.ValidateSize)
	}
	if hasFlag(c.Command, "port") {
		checks = append(checks, cfg.ValidatePort, cfg.ValidateAddress)
	}
	if hasFlag(c.Command, "workers") {
		checks = append(checks, cfg.ValidateWorkshop)
	} else if hasFlag(c.Command, "registry-mirror") {
		checks = append(checks, cfg.ValidateMirrors)
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// hasFlag says whether the command takes the flag, so only what it uses is validated.
func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// stateDir follows XDG_STATE_HOME where it is set, else keeps state beside the cache.
func stateDir(cacheDir string) string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "svcgraph")
	}
	if home, err := os.UserHomeDir(); err == nil && runtime.GOOS != "windows" {
		return filepath.Join(home, ".local", "state", "svcgraph")
	}
	return filepath.Join(cacheDir, "state")
}
