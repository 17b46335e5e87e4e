package k8stest_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/k8stest"
)

const self = "github.com/remediator/remediator/internal/k8stest"

// TestOnlyTestsImportK8stest: the harness (and the control plane it starts)
// must never reach the daemon's binary: only _test.go files and other
// test-helper packages (named *test) may import it.
func TestOnlyTestsImportK8stest(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if strings.HasSuffix(f.Name.Name, "test") {
			return nil // a test-helper package (like this one or pgtest)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s; only _test.go files may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKubeVersionMatchesMakefile: the binaries `make testbin` builds are the
// ones the harness looks for.
func TestKubeVersionMatchesMakefile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^K8S_VERSION\s*\?=\s*(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no K8S_VERSION in the Makefile")
	}
	if string(m[1]) != k8stest.KubeVersion {
		t.Fatalf("Makefile K8S_VERSION %s, k8stest.KubeVersion %s", m[1], k8stest.KubeVersion)
	}
	if !strings.HasSuffix(k8stest.DefaultBinDir(), filepath.Join("remediator", "k8s-v"+k8stest.KubeVersion)) {
		t.Fatalf("DefaultBinDir %s", k8stest.DefaultBinDir())
	}
}
