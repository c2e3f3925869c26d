package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisMode is the Redis topology.
// +kubebuilder:validation:Enum=standalone;sentinel;cluster
type RedisMode string

// Redis topologies.
const (
	RedisStandalone RedisMode = "standalone"
	RedisSentinel   RedisMode = "sentinel"
	RedisCluster    RedisMode = "cluster"
)

// RedisSpec says how the fleet reaches the Redis it shares.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlSecretRef)",message="set exactly one of redis.url and redis.urlSecretRef"
// +kubebuilder:validation:XValidation:rule="self.mode == 'standalone' || size(self.addresses) > 0",message="redis.addresses must list the sentinels or cluster nodes when redis.mode is sentinel or cluster"
// +kubebuilder:validation:XValidation:rule="self.mode != 'sentinel' || size(self.sentinelMaster) > 0",message="redis.sentinelMaster is required when redis.mode is sentinel"
type RedisSpec struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS.
	// In sentinel and cluster modes it supplies credentials and TLS only.
	// Prefer urlSecretRef when the URL carries a password.
	// +optional
	// +kubebuilder:validation:Pattern=`^rediss?://`
	URL string `json:"url,omitempty"`
	// URLSecretRef reads the URL from a Secret key.
	// +optional
	URLSecretRef *corev1.SecretKeySelector `json:"urlSecretRef,omitempty"`
	// Mode is the topology.
	// +kubebuilder:default=standalone
	// +optional
	Mode RedisMode `json:"mode,omitempty"`
	// SentinelMaster is the master name the sentinels monitor.
	// +optional
	SentinelMaster string `json:"sentinelMaster,omitempty"`
	// Addresses are the sentinels (sentinel mode) or some cluster nodes
	// (cluster mode), as host:port.
	// +optional
	// +listType=atomic
	Addresses []string `json:"addresses,omitempty"`
	// KeyPrefix starts every Redis key and channel, so services can share
	// a Redis.
	// +kubebuilder:default="fleetwire:"
	// +optional
	KeyPrefix string `json:"keyPrefix,omitempty"`
}

// AuthSpec says how tokens are verified.
// +kubebuilder:validation:XValidation:rule="has(self.jwtSecretRef) || has(self.publicKeySecretRef)",message="auth needs jwtSecretRef (HS256) or publicKeySecretRef (RS256/ES256)"
type AuthSpec struct {
	// JWTSecretRef is the HS256 key.
	// +optional
	JWTSecretRef *corev1.SecretKeySelector `json:"jwtSecretRef,omitempty"`
	// PublicKeySecretRef is a PEM RSA or EC P-256 public key.
	// +optional
	PublicKeySecretRef *corev1.SecretKeySelector `json:"publicKeySecretRef,omitempty"`
	// Issuer, when set, must equal the token's iss.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must be among the token's aud values.
	// +optional
	Audience string `json:"audience,omitempty"`
}

// LimitsSpec bounds each pod.
type LimitsSpec struct {
	// MaxConnectionsPerPod refuses upgrades past this many connections and
	// makes the pod report not ready.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxConnectionsPerPod int32 `json:"maxConnectionsPerPod,omitempty"`
	// MaxMessageBytes is the largest client frame.
	// +kubebuilder:default=65536
	// +kubebuilder:validation:Minimum=256
	// +optional
	MaxMessageBytes int64 `json:"maxMessageBytes,omitempty"`
}

// AutoscalingSpec scales the fleet on active connections.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must not exceed autoscaling.maxReplicas"
type AutoscalingSpec struct {
	// MinReplicas is the fewest pods.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the most pods.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetConnectionsPerPod is the average realtime_active_connections
	// the autoscaler aims for.
	// +kubebuilder:default=5000
	// +kubebuilder:validation:Minimum=1
	// +optional
	TargetConnectionsPerPod int32 `json:"targetConnectionsPerPod,omitempty"`
	// TargetCPUUtilizationPercentage adds a CPU target when set.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
	// ScaleDownStabilizationSeconds slows scale-down so that draining pods
	// do not cause reconnect storms.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +optional
	ScaleDownStabilizationSeconds int32 `json:"scaleDownStabilizationSeconds,omitempty"`
}

// DrainSpec paces the stop of a pod.
type DrainSpec struct {
	// PreDrainDelay keeps a stopping pod serving, while not ready, so
	// endpoints can be removed before any connection is closed.
	// +kubebuilder:default="5s"
	// +optional
	PreDrainDelay *metav1.Duration `json:"preDrainDelay,omitempty"`
	// Timeout is the window over which a stopping pod closes its
	// connections.
	// +kubebuilder:default="30s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RealtimeServiceSpec is the desired fleet.
// +kubebuilder:validation:XValidation:rule="self.replicas <= 1 || has(self.redis)",message="more than one replica needs spec.redis: the in-memory broker cannot span pods"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || self.autoscaling.maxReplicas <= 1 || has(self.redis)",message="autoscaling above one replica needs spec.redis: the in-memory broker cannot span pods"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || self.autoscaling.targetConnectionsPerPod <= self.limits.maxConnectionsPerPod",message="autoscaling.targetConnectionsPerPod must not exceed limits.maxConnectionsPerPod"
type RealtimeServiceSpec struct {
	// Replicas is the pod count when autoscaling is off. One pod on the
	// in-memory broker needs no Redis.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas int32 `json:"replicas"`
	// Image is the runtime image; empty means the operator's own.
	// +optional
	Image string `json:"image,omitempty"`
	// Redis makes the pods share state, so more than one can run.
	// +optional
	Redis *RedisSpec `json:"redis,omitempty"`
	// Auth says how client and API tokens are verified.
	Auth AuthSpec `json:"auth"`
	// Limits bound each pod.
	// +kubebuilder:default={}
	// +optional
	Limits LimitsSpec `json:"limits"`
	// Autoscaling, when set, scales the fleet on active connections.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`
	// Drain paces the stop of each pod on rolling updates.
	// +kubebuilder:default={}
	// +optional
	Drain DrainSpec `json:"drain"`
}

// RealtimeServiceStatus is what the operator observed.
type RealtimeServiceStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Reconciling, Stalled and Degraded, following
	// the kstatus conventions.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Replicas is the pods that exist.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// ReadyReplicas is the pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// UpdatedReplicas is the pods running the current template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// Selector is the pods' label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// ActiveConnections is realtime_active_connections summed over the
	// ready pods.
	// +optional
	ActiveConnections int64 `json:"activeConnections,omitempty"`
	// Endpoint is the in-cluster address of the Service.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// RealtimeService runs a fleet of Fleetwire runtime pods.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rts,categories=fleetwire
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Connections",type=integer,JSONPath=`.status.activeConnections`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RealtimeService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RealtimeServiceSpec   `json:"spec,omitempty"`
	Status RealtimeServiceStatus `json:"status,omitempty"`
}

// RealtimeServiceList is a list of RealtimeServices.
// +kubebuilder:object:root=true
type RealtimeServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RealtimeService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RealtimeService{}, &RealtimeServiceList{})
}
