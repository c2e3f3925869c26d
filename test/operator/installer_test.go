package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const testImage = "registry.example.com/fleetwire:v1.2.3"

// renderInstaller runs make build-installer's script for testImage into a
// temporary file and returns its path and content.
func renderInstaller(t *testing.T) (string, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command("../../hack/build-installer.sh")
	cmd.Env = append(os.Environ(), "IMG="+testImage, "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/build-installer.sh: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// TestInstallerInstallsOnARealAPIServer renders dist/install.yaml as make
// build-installer does, applies it server-side to a real API server, and
// checks that the operator's service account may do what the reconciler
// does and no more.
func TestInstallerInstallsOnARealAPIServer(t *testing.T) {
	file, rendered := renderInstaller(t)
	var body []byte // without the header's comments
	for _, line := range bytes.SplitAfter(rendered, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("#")) {
			body = append(body, line...)
		}
	}
	if n := bytes.Count(body, []byte(testImage)); n != 2 {
		t.Errorf("the installer names %s %d times, want 2 (the image and --runtime-image)", testImage, n)
	}
	if bytes.Contains(rendered, []byte("ghcr.io/fleetwire/fleetwire:latest")) {
		t.Error("the installer still names the placeholder image")
	}
	kinds := map[string]int{}
	for _, o := range decodeAll(t, rendered) {
		kinds[o.GetKind()]++
	}
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"} {
		if kinds[kind] == 0 {
			t.Errorf("the installer has no %s (it has %v)", kind, kinds)
		}
	}

	c := startCluster(t)
	out := c.mustKubectl(t, "apply", "--server-side", "-f", file)
	for _, want := range []string{"namespace/fleetwire-system", "customresourcedefinition.apiextensions.k8s.io/realtimeservices.realtime.fleetwire.io",
		"deployment.apps/fleetwire-operator", "clusterrole.rbac.authorization.k8s.io/fleetwire-operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	c.mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/realtimeservices.realtime.fleetwire.io")
	as := "--as=system:serviceaccount:fleetwire-system:fleetwire-operator"
	for _, check := range []struct{ verb, resource, ns, want string }{
		{"patch", "deployments.apps", "apps", "yes"},
		{"update", "realtimeservices.realtime.fleetwire.io/status", "apps", "yes"},
		{"create", "horizontalpodautoscalers.autoscaling", "apps", "yes"},
		{"create", "leases.coordination.k8s.io", "fleetwire-system", "yes"},
		{"delete", "secrets", "apps", "no"},
		{"create", "clusterroles.rbac.authorization.k8s.io", "", "no"},
	} {
		args := []string{"auth", "can-i", check.verb, check.resource, as}
		if check.ns != "" {
			args = append(args, "-n", check.ns)
		}
		out, _ := c.kubectl(t, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n") // the answer is the last line, after any warning
		if got := lines[len(lines)-1]; got != check.want {
			t.Errorf("can-i %s %s = %q, want %s", check.verb, check.resource, out, check.want)
		}
	}
	checkCustomMetricsRBAC(t, c, strings.TrimPrefix(as, "--as="))
	// Applied again, nothing changes: the installer is idempotent.
	if again := c.mustKubectl(t, "apply", "--server-side", "-f", file); strings.Contains(again, "created") {
		t.Errorf("a second apply created objects:\n%s", again)
	}
}

// The chart and the installer install the same operator: the same flags
// (but for the names the release chooses), the same security contexts,
// resources and ports, and the same RBAC rules.
func TestChartAndInstallerAgree(t *testing.T) {
	_, installer := renderInstaller(t)
	repo, tag, _ := strings.Cut(testImage, ":")
	chart, err := exec.Command(helmBinary(t), "template", "fleetwire", chartDir, "--namespace", "fleetwire-system",
		"--kube-version", "1.37.2", "--set", "image.repository="+repo, "--set", "image.tag="+tag).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helm template: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	a, b := decodeAll(t, installer), decodeAll(t, chart)

	da, db := operatorDeployment(t, a), operatorDeployment(t, b)
	fa, fb := flags(t, da), flags(t, db)
	for _, f := range []map[string]string{fa, fb} {
		// The Service in front of the custom metrics API is named by the
		// release; each points at its own.
		if !strings.HasPrefix(f["--custom-metrics-service"], "fleetwire-system/") || !strings.HasSuffix(f["--custom-metrics-service"], "-custom-metrics") {
			t.Errorf("--custom-metrics-service=%s", f["--custom-metrics-service"])
		}
		delete(f, "--custom-metrics-service")
	}
	if !reflect.DeepEqual(fa, fb) {
		t.Errorf("the operator's flags differ:\n installer %v\n chart     %v", fa, fb)
	}
	for _, path := range [][]string{
		{"spec", "template", "spec", "securityContext"},
		{"spec", "template", "spec", "containers", "0", "securityContext"},
		{"spec", "template", "spec", "containers", "0", "resources"},
		{"spec", "template", "spec", "containers", "0", "ports"},
		{"spec", "template", "spec", "containers", "0", "image"},
		{"spec", "template", "spec", "containers", "0", "command"},
	} {
		va, vb := objField(da, path), objField(db, path)
		if !reflect.DeepEqual(va, vb) {
			t.Errorf("%s differs:\n installer %v\n chart     %v", strings.Join(path, "."), va, vb)
		}
	}
	if ra, rb := rules(a), rules(b); !reflect.DeepEqual(ra, rb) {
		t.Errorf("the RBAC rules differ:\n installer %v\n chart     %v", ra, rb)
	}
	if ra, rb := externalRoles(a), externalRoles(b); !reflect.DeepEqual(ra, rb) {
		t.Errorf("the roles bound but not defined differ: installer %v, chart %v", ra, rb)
	}
}

func decodeAll(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func operatorDeployment(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			return o
		}
	}
	t.Fatal("no Deployment")
	return nil
}

// flags returns the operator container's args as flag -> value.
func flags(t *testing.T, d *unstructured.Unstructured) map[string]string {
	t.Helper()
	args, _ := objField(d, []string{"spec", "template", "spec", "containers", "0", "args"}).([]any)
	out := map[string]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(a.(string), "=")
		out[name] = value
	}
	return out
}

// objField walks a path of map keys and list indexes.
func objField(o *unstructured.Unstructured, path []string) any {
	var v any = o.Object
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := int(p[0] - '0')
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// rules returns every rule of every Role and ClusterRole, each as JSON,
// sorted.
func rules(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		rs, _ := o.Object["rules"].([]any)
		for _, r := range rs {
			b, _ := json.Marshal(r)
			out = append(out, o.GetKind()+" "+string(b))
		}
	}
	sort.Strings(out)
	return out
}

// externalRoles returns the roles that bindings refer to but the objects
// do not define: Kubernetes's own.
func externalRoles(objs []*unstructured.Unstructured) []string {
	defined := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Role" || o.GetKind() == "ClusterRole" {
			defined[o.GetKind()+"/"+o.GetName()] = true
		}
	}
	var out []string
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		ref, _ := o.Object["roleRef"].(map[string]any)
		key := ref["kind"].(string) + "/" + ref["name"].(string)
		if !defined[key] {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}
