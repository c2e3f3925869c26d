package controllers

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Registering the builtin custom metrics API. Only one APIService can
// serve custom.metrics.k8s.io/v1beta2. The operator registers its own
// when there is none, keeps it right while it points at the operator's
// Service, and never takes over one that points elsewhere (an installed
// prometheus-adapter, say): it reports that on the RealtimeServices that
// autoscale instead (the MetricsAPIReady condition).

// CustomMetricsAPIService names the APIService of the metrics the HPAs read.
const CustomMetricsAPIService = "v1beta2.custom.metrics.k8s.io"

var apiServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}

// MetricsAPIRegistrar registers the operator's custom metrics API and
// remembers who holds it.
type MetricsAPIRegistrar struct {
	Client client.Client
	// Namespace, Name and Port are the Service in front of the operator's
	// custom metrics API.
	Namespace, Name string
	Port            int32
	// CABundle is the PEM certificate of the authority that signed the
	// API's serving certificate; the API server verifies the API with it.
	CABundle []byte
	// Every is how often the registration is checked again. Default 1m.
	Every time.Duration

	mu     sync.Mutex
	known  bool
	holder string // "" when the operator's Service serves the API
}

// Holder reports who serves the API: "" for the operator, else the
// Service (namespace/name) or "the API server itself". known is false
// until the first check.
func (r *MetricsAPIRegistrar) Holder() (holder string, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holder, r.known
}

// Start checks the registration now and then every Every, until ctx ends.
// It implements manager.Runnable; it runs on the leader only.
func (r *MetricsAPIRegistrar) Start(ctx context.Context) error {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	for {
		if err := r.Ensure(ctx); err != nil {
			log.FromContext(ctx).Error(err, "custom metrics APIService not checked; trying again", "in", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// Ensure registers the API if no APIService does, sets the operator's own
// APIService right if it drifted, and records who holds it.
func (r *MetricsAPIRegistrar) Ensure(ctx context.Context) error {
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(apiServiceGVK)
	err := r.Client.Get(ctx, client.ObjectKey{Name: CustomMetricsAPIService}, cur)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, r.desired()); err != nil {
			return fmt.Errorf("registering %s: %w", CustomMetricsAPIService, err)
		}
		log.FromContext(ctx).Info("custom metrics API registered", "apiService", CustomMetricsAPIService, "service", r.Namespace+"/"+r.Name)
		r.record("")
		return nil
	case err != nil:
		return fmt.Errorf("reading APIService %s: %w", CustomMetricsAPIService, err)
	}
	ns, _, _ := unstructured.NestedString(cur.Object, "spec", "service", "namespace")
	name, _, _ := unstructured.NestedString(cur.Object, "spec", "service", "name")
	if ns != r.Namespace || name != r.Name {
		holder := ns + "/" + name
		if name == "" {
			holder = "the API server itself"
		}
		r.record(holder)
		return nil
	}
	want := r.desired()
	if fmt.Sprint(cur.Object["spec"]) != fmt.Sprint(want.Object["spec"]) {
		cur.Object["spec"] = want.Object["spec"]
		if err := r.Client.Update(ctx, cur); err != nil {
			return fmt.Errorf("updating APIService %s: %w", CustomMetricsAPIService, err)
		}
	}
	r.record("")
	return nil
}

func (r *MetricsAPIRegistrar) record(holder string) {
	r.mu.Lock()
	r.holder, r.known = holder, true
	r.mu.Unlock()
}

// desired is the operator's APIService. The API's serving certificate
// is signed by an authority the operator makes at start (cmd/operator),
// whose certificate it carries, so the API server verifies it.
func (r *MetricsAPIRegistrar) desired() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": CustomMetricsAPIService,
			"labels": map[string]any{"app.kubernetes.io/managed-by": FieldManager}},
		"spec": map[string]any{
			"group": "custom.metrics.k8s.io", "version": "v1beta2",
			"groupPriorityMinimum": int64(100), "versionPriority": int64(200),
			"caBundle": base64.StdEncoding.EncodeToString(r.CABundle),
			"service":  map[string]any{"namespace": r.Namespace, "name": r.Name, "port": int64(r.Port)},
		},
	}}
	u.SetGroupVersionKind(apiServiceGVK)
	return u
}
