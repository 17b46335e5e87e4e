// Package k8stest runs a real Kubernetes control plane for integration
// tests, the way controller-runtime's envtest does: etcd, kube-apiserver and
// kube-controller-manager (deployment, replicaset, serviceaccount,
// garbage-collector and namespace controllers) on loopback ports, with a
// generated admin token. There is no scheduler and no kubelet: pods stay
// Pending until a test sets their status (SetPodsReady).
//
// The binaries come from $K8S_TESTBIN (default DefaultBinDir), built by
// `make testbin` (hack/build-k8s-testbin.sh). When they are missing, Start
// returns an error naming `make testbin`, and the tests fail: they never
// skip, so CI cannot pass without having run them.
//
// Start one Env per test package from TestMain (Run) and give each test its
// own namespace (NewNamespace). This package is for tests only; no non-test
// code may import it.
package k8stest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubeVersion is the Kubernetes version of the binaries; it must match
// K8S_VERSION in the Makefile (a test checks that it does).
const KubeVersion = "1.37.2"

// EnvBinDir names the directory holding kube-apiserver,
// kube-controller-manager and etcd (as the Makefile exports it).
const EnvBinDir = "K8S_TESTBIN"

// EnvKeepDir, set to 1, keeps the environment's directory (logs, certs,
// etcd data) after Stop.
const EnvKeepDir = "K8STEST_KEEP_DIR"

// DefaultControllers are the controllers kube-controller-manager runs.
var DefaultControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"serviceaccount-controller",
	"garbage-collector-controller",
	"namespace-controller",
}

// DefaultBinDir is where `make testbin` puts the binaries:
// ${XDG_CACHE_HOME:-$HOME/.cache}/remediator/k8s-v<KubeVersion>.
func DefaultBinDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "remediator", "k8s-v"+KubeVersion)
}

// BinDir is $K8S_TESTBIN, or DefaultBinDir when it is unset.
func BinDir() string {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d
	}
	return DefaultBinDir()
}

// Options configure Start. The zero value is what tests want.
type Options struct {
	// BinDir holds the binaries; default BinDir().
	BinDir string
	// Controllers run by kube-controller-manager; default DefaultControllers.
	Controllers []string
	// StartTimeout bounds the wait for each process to be ready; default 60s.
	StartTimeout time.Duration
	// KeepDir keeps the directory after Stop (also $K8STEST_KEEP_DIR=1).
	KeepDir bool
}

// Env is a running control plane.
type Env struct {
	// Dir holds the logs, certs, keys, tokens.csv, kubeconfig and etcd data.
	Dir string
	// Host is the apiserver's URL (https://127.0.0.1:port).
	Host string
	// Token is the admin's bearer token (group system:masters).
	Token string
	// CAFile is the apiserver's self-signed serving certificate.
	CAFile string

	keepDir   bool
	procs     []*proc // in start order
	clientset kubernetes.Interface
	stopOnce  sync.Once
	stopErr   error
}

type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // from Wait, valid once done is closed
}

// Start starts etcd, kube-apiserver and kube-controller-manager and waits
// until each is ready. On error everything started is stopped, and the error
// carries the tail of each log.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if len(opts.Controllers) == 0 {
		opts.Controllers = DefaultControllers
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	bins := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		p := filepath.Join(opts.BinDir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("k8stest: %s is missing or not executable: build the Kubernetes v%s control plane with `make testbin` "+
				"(or point %s at a directory holding etcd, kube-apiserver and kube-controller-manager)", p, KubeVersion, EnvBinDir)
		}
		bins[name] = p
	}

	dir, err := os.MkdirTemp("", "k8stest-")
	if err != nil {
		return nil, fmt.Errorf("k8stest: %w", err)
	}
	e := &Env{Dir: dir, keepDir: opts.KeepDir || os.Getenv(EnvKeepDir) == "1"}
	if err := e.start(ctx, opts, bins); err != nil {
		err = fmt.Errorf("k8stest: %w (environment in %s)\n%s", err, dir, e.LogTails(40))
		if stopErr := e.Stop(); stopErr != nil {
			err = fmt.Errorf("%w\nstopping: %v", err, stopErr)
		}
		return nil, err
	}
	return e, nil
}

func (e *Env) start(ctx context.Context, opts Options, bins map[string]string) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kcmPort := ports[0], ports[1], ports[2], ports[3]

	e.Token, err = randomHex(32)
	if err != nil {
		return err
	}
	if err := e.writeFiles(apiPort); err != nil {
		return err
	}
	d := e.Dir

	// etcd
	ec := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	ep := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if err := e.run("etcd", bins["etcd"],
		"--name=test", "--data-dir="+filepath.Join(d, "etcd"),
		"--listen-client-urls="+ec, "--advertise-client-urls="+ec,
		"--listen-peer-urls="+ep, "--initial-advertise-peer-urls="+ep,
		"--initial-cluster=test="+ep, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if err := e.waitReady(ctx, opts.StartTimeout, e.procs[0], plain, ec+"/health", ""); err != nil {
		return err
	}

	// kube-apiserver
	if err := e.run("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers="+ec, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort), "--cert-dir="+filepath.Join(d, "certs"),
		"--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC", "--token-auth-file="+filepath.Join(d, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(d, "sa.key"),
	); err != nil {
		return err
	}
	// The apiserver writes its self-signed certificate before it serves, so
	// the probe trusts exactly that certificate (no InsecureSkipVerify).
	api := &http.Client{Timeout: 5 * time.Second, Transport: &caTransport{caFile: e.CAFile}}
	if err := e.waitReady(ctx, opts.StartTimeout, e.procs[1], api, e.Host+"/readyz", e.Token); err != nil {
		return err
	}

	// kube-controller-manager
	if err := e.run("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+e.KubeconfigPath(), "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--controllers="+strings.Join(opts.Controllers, ","),
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+filepath.Join(d, "sa.key"),
		"--root-ca-file="+e.CAFile,
	); err != nil {
		return err
	}
	// Its serving certificate lives only in its memory; /healthz is public.
	kcm := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe
		DisableKeepAlives: true,
	}}
	if err := e.waitReady(ctx, opts.StartTimeout, e.procs[2], kcm,
		"https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", ""); err != nil {
		return err
	}

	cs, err := kubernetes.NewForConfig(e.Config())
	if err != nil {
		return err
	}
	e.clientset = cs
	return nil
}

// writeFiles writes sa.key, sa.pub, tokens.csv and kubeconfig.
func (e *Env) writeFiles(apiPort int) error {
	d := e.Dir
	e.Host = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	e.CAFile = filepath.Join(d, "certs", "apiserver.crt")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
`, e.Host, e.CAFile, e.Token)
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(e.Token + ",admin,admin-uid,system:masters\n"),
		"kubeconfig": []byte(kubeconfig),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// run starts a process with its output in Dir/<name>.log. The process is
// started from a fresh goroutine (never one locked to its OS thread), so
// the Pdeathsig set by procAttr fires only when the test binary dies.
func (e *Env) run(name, bin string, args ...string) error {
	logPath := filepath.Join(e.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	started := make(chan error, 1)
	go func() { started <- cmd.Start() }()
	if err := <-started; err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	e.procs = append(e.procs, p)
	return nil
}

// waitReady polls url with client until it answers 200, the process exits,
// ctx ends or timeout passes.
func (e *Env) waitReady(ctx context.Context, timeout time.Duration, p *proc, client *http.Client, url, token string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s: %s", p.name, url, time.Since(start).Round(time.Millisecond), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// caTransport trusts only the certificate in caFile, read on each request
// until it exists (the apiserver writes it shortly after it starts).
type caTransport struct {
	caFile string
	rt     http.RoundTripper
}

func (t *caTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.rt == nil {
		pemData, err := os.ReadFile(t.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("no certificate in %s", t.caFile)
		}
		t.rt = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
	}
	return t.rt.RoundTrip(req)
}

// Config is a fresh admin config for the apiserver (system:masters), with
// QPS and Burst high enough that tests are not throttled client-side.
func (e *Env) Config() *rest.Config {
	return &rest.Config{
		Host:            e.Host,
		BearerToken:     e.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: e.CAFile},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
}

// Clientset is an admin clientset shared by the package's tests.
func (e *Env) Clientset() kubernetes.Interface { return e.clientset }

// KubeconfigPath is a kubeconfig file for the admin (e.g. for --kubeconfig).
func (e *Env) KubeconfigPath() string { return filepath.Join(e.Dir, "kubeconfig") }

// NewNamespace creates a namespace of the test's own, named after the test,
// and deletes it when the test ends without waiting for the namespace
// controller to finalize it (that takes seconds).
func (e *Env) NewNamespace(t testing.TB) string {
	t.Helper()
	suffix, err := randomHex(3)
	if err != nil {
		t.Fatal(err)
	}
	name := dnsLabel(t.Name(), 63-len(suffix)-1) + "-" + suffix
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{"k8stest.remediator.io/test": "true"},
	}}
	if _, err := e.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Logf("k8stest: deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// dnsLabel turns s into a DNS-1123 label prefix of at most n characters.
func dnsLabel(s string, n int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= n {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "test"
	}
	return out
}

// Stop stops kube-controller-manager, then kube-apiserver (SIGTERM, then
// SIGKILL after 15s), then etcd, and removes Dir unless it is kept. It is
// safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		for i := len(e.procs) - 1; i >= 0; i-- {
			p := e.procs[i]
			grace := 5 * time.Second
			if p.name == "kube-apiserver" {
				grace = 15 * time.Second
			}
			if err := p.stop(grace); err != nil {
				errs = append(errs, err)
			}
		}
		if !e.keepDir {
			if err := os.RemoveAll(e.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil // already gone (its exit is in its log)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("k8stest: %s did not stop within %s of SIGTERM; killed", p.name, grace)
}

// LogTails is the last n lines of each process's log, headed by its name.
func (e *Env) LogTails(n int) string {
	var b strings.Builder
	for _, p := range e.procs {
		fmt.Fprintf(&b, "----- last %d lines of %s (%s) -----\n", n, p.name, p.log)
		lines, err := tail(p.log, n)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func tail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}

// RSS is each running process's resident memory in bytes (Linux /proc).
func (e *Env) RSS() map[string]int64 {
	out := map[string]int64{}
	for _, p := range e.procs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					out[p.name] = kb * 1024
				}
			}
		}
	}
	return out
}

// Run is TestMain's body: it starts an Env into *env, runs the tests, prints
// the log tails when they fail, and stops the Env. A control plane that
// cannot start fails the package.
//
//	var env *k8stest.Env
//	func TestMain(m *testing.M) { os.Exit(k8stest.Run(m, &env)) }
func Run(m *testing.M, env **Env) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	e, err := Start(ctx, Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "FAIL: the Kubernetes control plane did not start")
		return 1
	}
	*env = e
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "k8stest: tests failed; control plane logs in %s\n%s", e.Dir, e.LogTails(40))
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// StartT starts an Env for one test, stopped when the test ends (with the
// log tails when it failed). Prefer one Env per package (Run).
func StartT(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs in %s\n%s", e.Dir, e.LogTails(40))
		}
		if err := e.Stop(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// freePorts picks n distinct free loopback ports, holding all listeners
// until every port is chosen.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
