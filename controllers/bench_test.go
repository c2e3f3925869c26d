package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BenchmarkRenderAndBuild measures the pure part of a reconcile: render
// the runtime config and build every owned object.
func BenchmarkRenderAndBuild(b *testing.B) {
	rts := productionRTS()
	b.ReportAllocs()
	for b.Loop() {
		y, err := renderConfig(rts)
		if err != nil {
			b.Fatal(err)
		}
		d := &desired{rts: rts, image: "x", configYAML: y, secretData: map[string][]byte{"jwt/secret": []byte("s")}}
		_ = buildConfigMap(d)
		_ = buildServiceAccount(d)
		_ = buildService(d)
		_ = buildDeployment(d)
		_ = buildHPA(d)
		_ = buildPDB(d)
		_ = buildServiceMonitor(d)
	}
}

// BenchmarkCreateToDeployment measures, against the envtest API server,
// the time from creating a RealtimeService to its Deployment existing,
// with the manager's one reconcile worker. Each iteration creates one
// RealtimeService; the loop waits for all of them at the end.
func BenchmarkCreateToDeployment(b *testing.B) {
	if suiteErr != nil {
		b.Fatal(suiteErr)
	}
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if err := k8sClient.Create(context.Background(), namespaceObj(ns)); err != nil {
		b.Fatal(err)
	}
	if err := k8sClient.Create(context.Background(), jwtSecret(ns)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := k8sClient.Create(context.Background(), newRTS(ns, fmt.Sprintf("rts-%d", i), nil)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list := &appsv1.DeploymentList{}
		if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if len(list.Items) == b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Deployments after 5m", len(list.Items), b.N)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
