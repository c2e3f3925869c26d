package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// Labels and annotations the operator sets.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelComponent = "app.kubernetes.io/component"
	appName        = "fleetwire-runtime"
	managerName    = "fleetwire-operator"

	// AnnotationConfigHash on the pod template hashes the rendered config
	// and the referenced Secrets' data, so a change to either rolls pods.
	AnnotationConfigHash = "realtime.fleetwire.io/config-hash"

	containerName   = "runtime"
	portName        = "http"
	configVolume    = "config"
	publicKeyVolume = "jwt-public-key"
	tmpVolume       = "tmp"
	podInfoVolume   = "podinfo"
	// podInfoDir holds the pod's annotations, where the runtime reads
	// its rebalance orders (rebalance.go).
	podInfoDir = "/etc/fleetwire/podinfo"
)

// desired is everything a builder needs: the object, its resolved inputs
// and the operator's defaults. Builders are pure functions of it.
type desired struct {
	rts *v1.RealtimeService
	// image is spec.image or the operator's default runtime image.
	image string
	// configYAML is the rendered runtime configuration.
	configYAML []byte
	// secretData holds the referenced Secret values, keyed by
	// "<secret>/<key>"; only their hash leaves the builders.
	secretData map[string][]byte
}

func selectorLabels(rts *v1.RealtimeService) map[string]string {
	return map[string]string{labelName: appName, labelInstance: rts.Name}
}

func commonLabels(rts *v1.RealtimeService) map[string]string {
	l := selectorLabels(rts)
	l[labelManagedBy] = managerName
	l[labelComponent] = "realtime"
	return l
}

func objectMeta(rts *v1.RealtimeService) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: rts.Name, Namespace: rts.Namespace, Labels: commonLabels(rts)}
}

// configHash covers the config file and every referenced Secret value, in
// a fixed order.
func (d *desired) configHash() string {
	h := sha256.New()
	h.Write(d.configYAML)
	keys := make([]string, 0, len(d.secretData))
	for k := range d.secretData {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", k, len(d.secretData[k]))
		h.Write(d.secretData[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func buildConfigMap(d *desired) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(d.rts),
		Data:       map[string]string{configFile: string(d.configYAML)},
	}
}

func buildServiceAccount(d *desired) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(d.rts),
		// The runtime never calls the Kubernetes API.
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// killMargin keeps the kubelet's kill strictly after the runtime's own
// exit deadline, which it must exceed (config.Drain.ExitBudget).
const killMargin = 5 * time.Second

// terminationGrace gives the runtime its whole drain (pre-drain delay,
// paced closes, then the time it takes to flush and exit) before the
// kubelet kills it: preDrainDelay + timeout + config.DrainGrace + killMargin.
func terminationGrace(rts *v1.RealtimeService) int64 {
	drain := config.Default().Drain
	setDuration(&drain.PreDelay, rts.Spec.Drain.PreDrainDelay)
	setDuration(&drain.Timeout, rts.Spec.Drain.Timeout)
	return int64(math.Ceil((drain.ExitBudget() + killMargin).Seconds()))
}

func buildDeployment(d *desired) *appsv1.Deployment {
	rts := d.rts
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(rts),
		Spec: appsv1.DeploymentSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: selectorLabels(rts)},
			RevisionHistoryLimit: ptr.To[int32](5),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					// A new pod is ready before an old one starts to drain,
					// so capacity never dips during a rollout.
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: buildPodTemplate(d),
		},
	}
	// With autoscaling on, the HPA owns replicas, so the field is left
	// out; handOffReplicas keeps the current value while the operator
	// releases it.
	if rts.Spec.Autoscaling == nil {
		dep.Spec.Replicas = ptr.To(rts.Spec.Replicas)
	}
	return dep
}

func buildPodTemplate(d *desired) corev1.PodTemplateSpec {
	rts := d.rts
	pod := rts.Spec.Pod
	if pod == nil {
		pod = &v1.PodSpec{}
	}
	labels := map[string]string{}
	for k, v := range pod.Labels {
		labels[k] = v
	}
	for k, v := range commonLabels(rts) { // ours win
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	annotations[AnnotationConfigHash] = d.configHash()

	spread := pod.TopologySpreadConstraints
	if spread == nil {
		spread = defaultSpread(rts)
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			ServiceAccountName:            rts.Name,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(terminationGrace(rts)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers:                []corev1.Container{buildContainer(d)},
			Volumes:                   buildVolumes(rts),
			NodeSelector:              pod.NodeSelector,
			Tolerations:               pod.Tolerations,
			Affinity:                  pod.Affinity,
			TopologySpreadConstraints: spread,
			PriorityClassName:         pod.PriorityClassName,
		},
	}
}

func defaultSpread(rts *v1.RealtimeService) []corev1.TopologySpreadConstraint {
	sel := &metav1.LabelSelector{MatchLabels: selectorLabels(rts)}
	c := func(key string) corev1.TopologySpreadConstraint {
		return corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: key,
			WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel}
	}
	return []corev1.TopologySpreadConstraint{c("topology.kubernetes.io/zone"), c("kubernetes.io/hostname")}
}

func defaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
}

func secretEnv(name string, ref *corev1.SecretKeySelector) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}}
}

func buildContainer(d *desired) corev1.Container {
	rts := d.rts
	resources := defaultResources()
	if rts.Spec.Pod != nil && rts.Spec.Pod.Resources != nil {
		resources = *rts.Spec.Pod.Resources
	}
	// POD_NAME and POD_IP name the node in the fleet registry and say
	// where the other nodes reach it (docs/console.md).
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}
	if ref := rts.Spec.Auth.JWTSecretRef; ref != nil {
		env = append(env, secretEnv("JWT_SECRET", ref))
	}
	if r := rts.Spec.Redis; r != nil {
		if r.URLSecretRef != nil {
			env = append(env, secretEnv("REDIS_URL", r.URLSecretRef))
		}
		if r.PasswordSecretRef != nil {
			env = append(env, secretEnv("REDIS_PASSWORD", r.PasswordSecretRef))
		}
	}
	if _, ok := resources.Limits[corev1.ResourceMemory]; ok {
		// Let the Go runtime collect harder before the kernel kills it.
		env = append(env, corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
			ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: containerName, Resource: "limits.memory"}}})
	}
	mounts := []corev1.VolumeMount{
		{Name: configVolume, MountPath: configDir, ReadOnly: true},
		{Name: tmpVolume, MountPath: "/tmp"},
		{Name: podInfoVolume, MountPath: podInfoDir, ReadOnly: true},
	}
	if rts.Spec.Auth.PublicKeySecretRef != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: publicKeyVolume, MountPath: publicKeyDir, ReadOnly: true})
	}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(portName)}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
		}
	}
	return corev1.Container{
		Name:         containerName,
		Image:        d.image,
		Command:      []string{"/fleetwire-runtime"},
		Args:         []string{"--config", configDir + "/" + configFile},
		Ports:        []corev1.ContainerPort{{Name: portName, ContainerPort: runtimePort, Protocol: corev1.ProtocolTCP}},
		Env:          env,
		Resources:    resources,
		VolumeMounts: mounts,
		// Liveness never depends on Redis, so an outage restarts nothing;
		// readiness turns false while draining, full, or cut off from the
		// broker past its grace.
		StartupProbe:   probe("/health/live", 2, 30),
		LivenessProbe:  probe("/health/live", 10, 3),
		ReadinessProbe: probe("/health/ready", 5, 2),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

func buildVolumes(rts *v1.RealtimeService) []corev1.Volume {
	vols := []corev1.Volume{
		{Name: configVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: rts.Name}}}},
		{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
		// Always there, so that turning rebalancing on or off does not
		// roll the pods.
		{Name: podInfoVolume, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "annotations",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations"}}}}}},
	}
	if ref := rts.Spec.Auth.PublicKeySecretRef; ref != nil {
		vols = append(vols, corev1.Volume{Name: publicKeyVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ref.Name,
			Items:      []corev1.KeyToPath{{Key: ref.Key, Path: publicKeyFile}},
			Optional:   ref.Optional,
		}}})
	}
	return vols
}

func buildService(d *desired) *corev1.Service {
	rts := d.rts
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rts),
		Spec: corev1.ServiceSpec{
			Type:     rts.Spec.Service.Type,
			Selector: selectorLabels(rts),
			Ports: []corev1.ServicePort{{Name: portName, Port: runtimePort, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString(portName), AppProtocol: ptr.To("http")}},
		},
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	svc.Annotations = rts.Spec.Service.Annotations
	if sio := rts.Spec.SocketIO; sio != nil && sio.Enabled && sio.Polling {
		// Every long-polling request of a session must reach the pod that
		// holds the session.
		svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	}
	return svc
}

// connectionsMetric is the gauge the HPA scales on; the runtime exports
// it under this exact name.
const connectionsMetric = "realtime_active_connections"

func buildHPA(d *desired) *autoscalingv2.HorizontalPodAutoscaler {
	rts := d.rts
	as := rts.Spec.Autoscaling
	metrics := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: connectionsMetric},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType,
				AverageValue: resource.NewQuantity(int64(as.TargetConnectionsPerPod), resource.DecimalSI)},
		},
	}}
	if as.TargetCPUUtilizationPercentage != nil {
		metrics = append(metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType,
					AverageUtilization: as.TargetCPUUtilizationPercentage}},
		})
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(rts),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: rts.Name},
			MinReplicas:    ptr.To(as.MinReplicas),
			MaxReplicas:    as.MaxReplicas,
			Metrics:        metrics,
			Behavior:       scaleBehavior(as),
		},
	}
}

// scaleBehavior is the same for every provider: quick to scale up,
// gentle to scale down.
func scaleBehavior(as *v1.AutoscalingSpec) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 30},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 30},
			},
		},
		// Each removed pod hands its clients to the others; one pod or 10%
		// a minute, whichever is more, keeps reconnects from piling onto
		// the survivors.
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(as.ScaleDownStabilizationSeconds),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: max(1, as.ScaleDownPodsPerMinute), PeriodSeconds: 60},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60},
			},
		},
	}
}

// maxPods is the most pods the spec lets run at once.
func maxPods(rts *v1.RealtimeService) int32 {
	if as := rts.Spec.Autoscaling; as != nil {
		return as.MaxReplicas
	}
	return rts.Spec.Replicas
}

// buildPDB returns nil when at most one pod can run: a budget over one
// pod would block node drains forever.
func buildPDB(d *desired) *policyv1.PodDisruptionBudget {
	rts := d.rts
	if maxPods(rts) <= 1 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(rts),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(rts)},
		},
	}
}

// serviceMonitorGVK is the Prometheus Operator's kind; it is built as
// unstructured so the operator does not depend on that module.
var serviceMonitorGVK = struct{ Group, Version, Kind string }{"monitoring.coreos.com", "v1", "ServiceMonitor"}

func buildServiceMonitor(d *desired) *unstructured.Unstructured {
	rts := d.rts
	interval := "30s"
	if m := rts.Spec.Monitoring; m != nil && m.Interval != nil {
		interval = m.Interval.Duration.String()
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": serviceMonitorGVK.Group + "/" + serviceMonitorGVK.Version,
		"kind":       serviceMonitorGVK.Kind,
		"metadata": map[string]any{
			"name": rts.Name, "namespace": rts.Namespace, "labels": toAny(commonLabels(rts)),
		},
		"spec": map[string]any{
			"selector":  map[string]any{"matchLabels": toAny(selectorLabels(rts))},
			"endpoints": []any{map[string]any{"port": portName, "path": "/metrics", "interval": interval}},
		},
	}}
	return u
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
