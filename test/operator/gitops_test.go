package operator

import (
	"encoding/json"
	"strings"
	"testing"
)

// A RealtimeService applied by a GitOps tool stays in sync: the operator
// writes its status and nothing else of it, so the tool's field manager
// owns every field of metadata and spec it applied, and a second apply
// of the same manifest changes nothing.
func TestOperatorNeverWritesSpec(t *testing.T) {
	c := startCluster(t)
	c.startOperator(t)
	manifest := autoscalingChat("{minReplicas: 1, maxReplicas: 5}")
	c.mustKubectlStdin(t, manifest, "apply", "--server-side", "--field-manager=gitops", "-f", "-")
	waitFor(t, "the operator to report status", func() bool {
		out, _ := c.kubectl(t, "get", "rts", "chat", "-o", "jsonpath={.status.observedGeneration}")
		return strings.TrimSpace(out) == "1"
	})
	out := c.mustKubectl(t, "get", "rts", "chat", "-o", "json", "--show-managed-fields")
	var obj struct {
		Metadata struct {
			Generation    int64
			ManagedFields []struct {
				Manager     string
				Operation   string
				Subresource string
				FieldsV1    map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	for _, mf := range obj.Metadata.ManagedFields {
		if mf.Manager == "gitops" {
			continue
		}
		if mf.Subresource != "status" {
			t.Errorf("manager %s (%s) owns fields outside status: %v", mf.Manager, mf.Operation, mf.FieldsV1)
		}
		for f := range mf.FieldsV1 {
			if f != "f:status" {
				t.Errorf("manager %s owns %s", mf.Manager, f)
			}
		}
	}
	if obj.Metadata.Generation != 1 {
		t.Errorf("generation %d after the operator's work, want 1: something wrote the spec", obj.Metadata.Generation)
	}
	again := c.mustKubectlStdin(t, manifest, "apply", "--server-side", "--field-manager=gitops", "-f", "-")
	if !strings.Contains(again, "realtimeservice.realtime.fleetwire.io/chat serverside-applied") {
		t.Fatalf("second apply: %s", again)
	}
	if gen := strings.TrimSpace(c.mustKubectl(t, "get", "rts", "chat", "-o", "jsonpath={.metadata.generation}")); gen != "1" {
		t.Errorf("generation %s after applying the same manifest again, want 1", gen)
	}

	// kubectl get -o wide adds the image, the autoscaling range, the Redis
	// mode and the Ready condition's reason to the default columns.
	wide := strings.Fields(c.mustKubectl(t, "get", "rts", "chat", "-o", "wide"))
	header := strings.Join(wide[:10], " ")
	if header != "NAME DESIRED READY CONNECTIONS STATUS IMAGE MIN MAX REDIS REASON" {
		t.Errorf("wide columns: %s", header)
	}
	if row := strings.Join(wide[11:], " "); !strings.Contains(row, "1 5 standalone RollingOut") {
		t.Errorf("wide row: %s, want the range 1 5, standalone and the reason RollingOut", row)
	}
}
