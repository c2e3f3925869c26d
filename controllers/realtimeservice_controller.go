package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// FieldManager owns every field the operator applies.
const FieldManager = "fleetwire-operator"

// minJWTSecretBytes is the shortest HS256 key the runtime accepts in
// production mode.
const minJWTSecretBytes = 32

// secretIndex indexes RealtimeServices by the Secrets they reference.
const secretIndex = ".spec.secretNames"

// Requeue intervals.
const (
	// missingSecretRetry is a fallback: creating the Secret triggers a
	// reconcile at once through the Secret watch.
	missingSecretRetry = 30 * time.Second
	// missingCRDRetry is how soon a fleet that asked for a kind whose CRD
	// is missing (KEDA's ScaledObject, the Prometheus Operator's
	// ServiceMonitor) looks again, so installing it is noticed without a
	// change to the RealtimeService.
	missingCRDRetry = time.Minute
	// DefaultConnectionInterval is how often connection counts are read.
	DefaultConnectionInterval = 15 * time.Second
)

// +kubebuilder:rbac:groups=realtime.fleetwire.io,resources=realtimeservices,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=realtime.fleetwire.io,resources=realtimeservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=realtime.fleetwire.io,resources=realtimeservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apiregistration.k8s.io,resources=apiservices,verbs=get;create;update
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;create;update;patch;delete
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// RealtimeServiceReconciler turns a RealtimeService into a runtime fleet.
type RealtimeServiceReconciler struct {
	// Client reads from the cache and applies objects.
	Client client.Client
	// APIReader reads pods, Secrets and the Deployment's current state
	// directly from the API server: the operator keeps no pod cache, and
	// caches Secrets' metadata only.
	APIReader client.Reader
	// Scheme knows the owned kinds; owner references need it.
	Scheme *runtime.Scheme
	// Recorder emits events.k8s.io Events for users.
	Recorder recorder.EventRecorder
	// DefaultImage runs when spec.image is empty.
	DefaultImage string
	// Connections reads the pods' connection counts; default a
	// MetricsScraper.
	Connections ConnectionCounter
	// MetricsAPI says who serves the custom metrics API, when the
	// operator serves it (MetricsAPIRegistrar); nil when it does not.
	MetricsAPI interface {
		Holder() (holder string, known bool)
	}
	// FleetTotalsURL is the base URL at which the operator serves each
	// fleet's total connections (FleetTotals), for the keda provider's
	// trigger, such as http://fleetwire-custom-metrics.fleetwire-system.svc:8082;
	// empty when it does not serve them.
	FleetTotalsURL string
	// ConnectionInterval is how often counts are refreshed while the
	// Deployment has pods. Default DefaultConnectionInterval.
	ConnectionInterval time.Duration
	// MaxConcurrentReconciles is how many RealtimeServices reconcile at
	// once. Default 4: a reconcile mostly waits on API calls and pod
	// scrapes.
	MaxConcurrentReconciles int
}

// Reconcile applies the owned objects for one RealtimeService and records
// what it observed, in five steps.
func (r *RealtimeServiceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	rts := &v1.RealtimeService{}
	if err := r.Client.Get(ctx, req.NamespacedName, rts); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rts.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references garbage-collect the rest
	}

	obs := &observed{}
	d, err := r.resolve(ctx, rts, obs)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(obs.missingSecrets) == 0 && len(obs.invalidSecrets) == 0 {
		obs.applyErr = r.applyAll(ctx, d, obs)
	} else {
		// Pods started now would crash-loop; the running ones keep serving.
		reason, msg := secretProblem(rts, obs)
		r.Recorder.Eventf(rts, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	}
	if err := r.observe(ctx, rts, obs); err != nil {
		return ctrl.Result{}, err
	}
	if as := rts.Spec.Autoscaling; as != nil && as.Provider != v1.ProviderKEDA && as.Provider != v1.ProviderPrometheus && r.MetricsAPI != nil {
		holder, known := r.MetricsAPI.Holder()
		obs.metricsAPI = &metricsAPIState{holder: holder, known: known}
	}
	st := computeStatus(rts, obs)
	r.announceMetricsAPI(rts, st)
	if err := r.writeStatus(ctx, rts, st); err != nil {
		return ctrl.Result{}, errors.Join(obs.applyErr, err)
	}
	return r.result(obs)
}

func (r *RealtimeServiceReconciler) result(obs *observed) (ctrl.Result, error) {
	switch {
	case obs.applyErr != nil:
		return ctrl.Result{}, obs.applyErr // retried with backoff
	case len(obs.missingSecrets) > 0 || len(obs.invalidSecrets) > 0:
		return ctrl.Result{RequeueAfter: missingSecretRetry}, nil
	case obs.deployment != nil && obs.deployment.Status.Replicas > 0:
		interval := r.ConnectionInterval
		if interval <= 0 {
			interval = DefaultConnectionInterval
		}
		return ctrl.Result{RequeueAfter: interval}, nil
	case obs.scaledObject == optionalCRDMissing || obs.monitoring == optionalCRDMissing:
		return ctrl.Result{RequeueAfter: missingCRDRetry}, nil
	}
	return ctrl.Result{}, nil
}

// resolve reads the referenced Secrets and renders the config.
func (r *RealtimeServiceReconciler) resolve(ctx context.Context, rts *v1.RealtimeService, obs *observed) (*desired, error) {
	d := &desired{rts: rts, image: rts.Spec.Image, secretData: map[string][]byte{}}
	if d.image == "" {
		d.image = r.DefaultImage
	}
	for _, ref := range v1.SecretRefs(rts) {
		s := &corev1.Secret{}
		optional := ref.Optional != nil && *ref.Optional
		// Read directly: the operator caches Secrets' metadata only, so
		// that no Secret's data sits in its memory.
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rts.Namespace, Name: ref.Name}, s)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Secret %s: %w", ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		switch {
		case !ok && optional: // the pod starts without it, as Kubernetes allows
		case !ok:
			obs.missingSecrets = append(obs.missingSecrets, ref.Name+"/"+ref.Key)
		default:
			d.secretData[ref.Name+"/"+ref.Key] = v
		}
	}
	// The runtime runs in production mode and refuses a short HS256 key.
	if ref := rts.Spec.Auth.JWTSecretRef; ref != nil {
		if v, ok := d.secretData[ref.Name+"/"+ref.Key]; ok && len(v) < minJWTSecretBytes {
			obs.invalidSecrets = append(obs.invalidSecrets, fmt.Sprintf(
				"%s/%s: an HS256 key must be at least %d bytes, this one has %d", ref.Name, ref.Key, minJWTSecretBytes, len(v)))
		}
	}
	yml, err := renderConfig(rts)
	if err != nil {
		return nil, fmt.Errorf("rendering the runtime config: %w", err)
	}
	d.configYAML = yml
	return d, nil
}

// observe reads the Deployment and the pods' connection counts. The
// Deployment is read from the API server, not the cache: right after an
// apply, the cache may still hold the previous generation, whose finished
// rollout would report the new spec Ready too early.
func (r *RealtimeServiceReconciler) observe(ctx context.Context, rts *v1.RealtimeService, obs *observed) error {
	dep := &appsv1.Deployment{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rts), dep)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading Deployment: %w", err)
	}
	obs.deployment = dep
	if dep.Status.Replicas == 0 {
		return nil
	}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(rts.Namespace),
		client.MatchingLabels(selectorLabels(rts))); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	countable := countablePods(pods.Items)
	obs.connections = r.Connections.Count(ctx, countable)
	r.setDeletionCosts(ctx, countable, obs.connections.perPod)
	r.setRebalanceOrders(ctx, rts, countable, obs.connections.perPod)
	return nil
}

// writeStatus writes status once, and only when it changed.
// announceMetricsAPI records a Warning Event when the custom metrics API
// turns out to be held elsewhere: once, when the condition turns False.
func (r *RealtimeServiceReconciler) announceMetricsAPI(rts *v1.RealtimeService, st v1.RealtimeServiceStatus) {
	now := meta.FindStatusCondition(st.Conditions, ConditionMetricsAPIReady)
	if now == nil || now.Status != metav1.ConditionFalse {
		return
	}
	if was := meta.FindStatusCondition(rts.Status.Conditions, ConditionMetricsAPIReady); was != nil && was.Status == metav1.ConditionFalse {
		return
	}
	r.Recorder.Eventf(rts, nil, corev1.EventTypeWarning, now.Reason, "Autoscaling", "%s", now.Message)
}

func (r *RealtimeServiceReconciler) writeStatus(ctx context.Context, rts *v1.RealtimeService, st v1.RealtimeServiceStatus) error {
	if equality.Semantic.DeepEqual(rts.Status, st) {
		return nil
	}
	orig := rts.DeepCopy()
	rts.Status = st
	if err := r.Client.Status().Patch(ctx, rts, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	log.FromContext(ctx).V(1).Info("status written", "ready", st.ReadyReplicas, "connections", st.ActiveConnections)
	return nil
}

// SetupWithManager checks the dependencies and registers the watches.
func (r *RealtimeServiceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	switch {
	case r.Client == nil, r.APIReader == nil, r.Scheme == nil, r.Recorder == nil:
		return errors.New("RealtimeServiceReconciler needs Client, APIReader, Scheme and Recorder")
	case r.DefaultImage == "":
		return errors.New("RealtimeServiceReconciler needs DefaultImage (the --runtime-image flag)")
	}
	if r.Connections == nil {
		r.Connections = &MetricsScraper{}
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 4
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1.RealtimeService{}, secretIndex,
		func(o client.Object) []string { return v1.SecretNames(o.(*v1.RealtimeService)) }); err != nil {
		return fmt.Errorf("indexing RealtimeServices by Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.RealtimeService{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&appsv1.Deployment{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.requestsForSecret), builder.OnlyMetadata).
		Named("realtimeservice").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, RateLimiter: retryLimiter()}).
		Complete(r)
}

// maxRetryDelay caps the backoff between retries of a failing
// RealtimeService. controller-runtime's default doubles up to 1000s, so
// a kube-apiserver away for ten seconds, failing every retry, would leave
// a RealtimeService waiting minutes after it came back.
const maxRetryDelay = 30 * time.Second

// retryLimiter is controller-runtime's default rate limiter with the
// per-item backoff capped at maxRetryDelay.
func retryLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// requestsForSecret maps a Secret to the RealtimeServices that use it.
func (r *RealtimeServiceReconciler) requestsForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1.RealtimeServiceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{secretIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing RealtimeServices for a Secret", "secret", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, item := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&item)})
	}
	return reqs
}
