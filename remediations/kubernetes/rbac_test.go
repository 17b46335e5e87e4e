package kubernetes_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/remediator/remediator/remediations/kubernetes"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/rbac.yaml from the action declarations")

var rbacFile = filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml")

// The shipped role is generated from the declarations; an action that gains
// a verb changes the file, or this fails.
func TestShippedRBACMatchesDeclarations(t *testing.T) {
	want, err := kubernetes.RBACManifest("remediator", "remediator")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(rbacFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(rbacFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the action declarations generate; run go test ./remediations/kubernetes/ -run TestShippedRBAC -update\n--- generated:\n%s", rbacFile, want)
	}
}

func TestClusterRoleRulesLeastPrivilege(t *testing.T) {
	rules := kubernetes.ClusterRoleRules()
	for _, r := range rules {
		for _, f := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			if slices.Contains(f, "*") {
				t.Errorf("rule %+v uses a wildcard", r)
			}
		}
		for _, res := range r.Resources {
			if res == "secrets" {
				t.Errorf("rule %+v grants secrets", r)
			}
		}
	}
	// Every action's needs are covered by the role.
	for _, a := range kubernetes.Actions() {
		for _, acc := range kubernetes.AccessFor(a.Spec().Name) {
			for _, verb := range acc.Verbs {
				if !allows(rules, acc.Group, acc.Resource, verb) {
					t.Errorf("%s needs %s %s/%s; the role lacks it", a.Spec().Name, verb, acc.Group, acc.Resource)
				}
			}
		}
	}
	// The role file parses as the ClusterRole the cluster will get.
	raw, err := os.ReadFile(rbacFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := bytes.Cut(raw, []byte("\n---\n"))
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(doc, &role); err != nil {
		t.Fatalf("parsing the ClusterRole in %s: %v", rbacFile, err)
	}
	if role.Kind != "ClusterRole" || len(role.Rules) != len(rules) {
		t.Fatalf("parsed %s with %d rules, want ClusterRole with %d", role.Kind, len(role.Rules), len(rules))
	}
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
