package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// EnvKubeconfig is the conventional environment variable naming kubeconfig
// files.
const EnvKubeconfig = "KUBECONFIG"

// ClusterConfig says how to reach a cluster.
type ClusterConfig struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, else the
	// in-cluster ServiceAccount when running in a pod.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context (default: its current context).
	Context string `yaml:"context"`
	// RequestTimeout bounds each API request (default 30s); an action's
	// timeout bounds the whole action.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// QPS and Burst are client-go's rate limits (default 20 and 40).
	QPS   float32 `yaml:"qps"`
	Burst int     `yaml:"burst"`
}

// Cluster is a connected cluster: its REST config and where it came from.
type Cluster struct {
	Config *rest.Config
	// Source says how it was found, for the start-up log: the kubeconfig
	// path and context, or "in-cluster".
	Source string
	// Kubeconfig and Context are the kubeconfig file(s) and the context
	// used; both are empty for the in-cluster ServiceAccount.
	Kubeconfig, Context string
}

// LoadCluster finds the cluster to act on: an explicit kubeconfig, else
// $KUBECONFIG, else the in-cluster ServiceAccount. It returns nil, nil when
// none is configured: Kubernetes actions are then only planned. A
// kubeconfig in the home directory is deliberately not picked up: running
// remediator on a laptop must never act on whatever cluster kubectl happens
// to point at.
func LoadCluster(cc ClusterConfig, getenv func(string) string) (*Cluster, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var cfg *rest.Config
	var source, kubeconfig, kubeContext string
	path := cc.Kubeconfig
	if path == "" {
		path = getenv(EnvKubeconfig)
	}
	switch {
	case path != "":
		// client-go falls back to the in-cluster config when the named
		// files hold nothing; a kubeconfig that was asked for and is not
		// there is an error, not a reason to act on another cluster.
		if !slices.ContainsFunc(filepath.SplitList(path), func(f string) bool { _, err := os.Stat(f); return err == nil }) {
			return nil, fmt.Errorf("loading kubeconfig %s: no such file", path)
		}
		// Only the named files: no fallback to ~/.kube/config.
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(path)}
		if cc.Kubeconfig != "" {
			rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: cc.Kubeconfig}
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: cc.Context}
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
		c, err := loader.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
		}
		raw, err := loader.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
		}
		ctxName := cc.Context
		if ctxName == "" {
			ctxName = raw.CurrentContext
		}
		cfg, source = c, fmt.Sprintf("kubeconfig %s, context %q", path, ctxName)
		kubeconfig, kubeContext = path, ctxName
	case getenv("KUBERNETES_SERVICE_HOST") != "":
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
		cfg, source = c, "in-cluster ServiceAccount"
	default:
		return nil, nil
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = orDefault(cc.RequestTimeout, 30*time.Second)
	cfg.QPS = orDefault(cc.QPS, 20)
	cfg.Burst = orDefault(cc.Burst, 40)
	cfg.UserAgent = "remediator"
	return &Cluster{Config: cfg, Source: source, Kubeconfig: kubeconfig, Context: kubeContext}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Clients builds the clientsets an Executor uses.
func (c *Cluster) Clients() (kubernetes.Interface, metricsclient.Interface, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client (%s): %w", c.Source, err)
	}
	mc, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics client (%s): %w", c.Source, err)
	}
	return cs, mc, nil
}
