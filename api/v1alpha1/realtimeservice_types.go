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
// +kubebuilder:validation:XValidation:rule="self.mode == 'standalone' || (has(self.addresses) && size(self.addresses) > 0)",message="redis.addresses must list the sentinels or cluster nodes when redis.mode is sentinel or cluster"
// +kubebuilder:validation:XValidation:rule="self.mode != 'sentinel' || (has(self.sentinelMaster) && size(self.sentinelMaster) > 0)",message="redis.sentinelMaster is required when redis.mode is sentinel"
type RedisSpec struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS.
	// In sentinel and cluster modes it supplies credentials and TLS only.
	// Prefer urlSecretRef when the URL carries a password.
	// +optional
	// +kubebuilder:validation:Pattern=`^rediss?://([^@/]*@)?[^@/:]+`
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
	// +kubebuilder:validation:MaxItems=50
	Addresses []string `json:"addresses,omitempty"`
	// PasswordSecretRef reads the Redis password from a Secret key. It
	// overrides a password in the URL.
	// +optional
	PasswordSecretRef *corev1.SecretKeySelector `json:"passwordSecretRef,omitempty"`
	// TLS connects to Redis over TLS even when the URL is redis://.
	// +optional
	TLS bool `json:"tls,omitempty"`
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
	// BadRequestsPerSecondPerIP bounds the bad requests one client address
	// may make a second: connections closed for breaking the protocol or
	// its limits. Past it, the address's new connections are refused with
	// 429 and Retry-After until it is back under the rate. Unset keeps the
	// runtime's default (10); 0 turns it off, as it should be where one
	// address carries many clients and their WebSocket frames reach the
	// pods untouched.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	BadRequestsPerSecondPerIP *int32 `json:"badRequestsPerSecondPerIP,omitempty"`
}

// AutoscalingSpec scales the fleet on active connections.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must not exceed autoscaling.maxReplicas"
type AutoscalingSpec struct {
	// Provider is what serves the HPA its connection counts: builtin (the
	// operator's own custom metrics API), prometheus (an existing
	// prometheus-adapter with the rule in docs/autoscaling.md), or keda (a
	// KEDA ScaledObject instead of an HPA, reading the fleet's total from
	// the operator).
	// +kubebuilder:default=builtin
	// +kubebuilder:validation:Enum=builtin;prometheus;keda
	// +optional
	Provider AutoscalingProvider `json:"provider,omitempty"`
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
	// +kubebuilder:validation:Maximum=3600
	// +optional
	ScaleDownStabilizationSeconds int32 `json:"scaleDownStabilizationSeconds,omitempty"`
	// ScaleDownPodsPerMinute is the most pods removed in a minute (or 10%
	// of the fleet, if that is more), so that the clients of removed pods
	// do not all reconnect at once to the survivors.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ScaleDownPodsPerMinute int32 `json:"scaleDownPodsPerMinute,omitempty"`
	// Rebalance moves connections off pods that hold more than their
	// share, as after a scale-up. Off by default.
	// +optional
	Rebalance *RebalanceSpec `json:"rebalance,omitempty"`
}

// RebalanceSpec asks pods that hold more than the fleet's average by a
// margin to shed clients, at a capped pace, until they are within it.
type RebalanceSpec struct {
	// Enabled turns rebalancing on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// MarginPercent is how far above the fleet's average connections per
	// pod a pod may be before it sheds; it sheds down to that line.
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=500
	// +optional
	MarginPercent int32 `json:"marginPercent,omitempty"`
	// ConnectionsPerSecond is the most clients one pod asks to reconnect
	// each second.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	ConnectionsPerSecond int32 `json:"connectionsPerSecond,omitempty"`
}

// AutoscalingProvider names what serves the connection counts the fleet
// scales on.
type AutoscalingProvider string

// The autoscaling providers.
const (
	ProviderBuiltin    AutoscalingProvider = "builtin"
	ProviderPrometheus AutoscalingProvider = "prometheus"
	ProviderKEDA       AutoscalingProvider = "keda"
)

// DrainSpec paces the stop of a pod.
// +kubebuilder:validation:XValidation:rule="!has(self.preDrainDelay) || (duration(self.preDrainDelay) >= duration('0s') && duration(self.preDrainDelay) <= duration('5m'))",message="drain.preDrainDelay must be between 0s and 5m"
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || (duration(self.timeout) >= duration('0s') && duration(self.timeout) <= duration('1h'))",message="drain.timeout must be between 0s and 1h"
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

// CORSSpec lists the browser origins allowed to connect and call the API.
type CORSSpec struct {
	// AllowedOrigins are "*" or scheme://host[:port] values such as
	// https://app.example.com; a wildcard may be the first label only, as
	// in https://*.example.com. Empty allows same-origin requests only.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Pattern=`^(\*|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]+)?)$`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// SocketIOSpec is the Socket.IO v4 endpoint (Engine.IO protocol 4,
// Socket.IO protocol 5), for socket.io-client 4.x.
// +kubebuilder:validation:XValidation:rule="!has(self.pingInterval) || duration(self.pingInterval) >= duration('100ms')",message="socketIO.pingInterval must be at least 100ms"
// +kubebuilder:validation:XValidation:rule="!has(self.pingTimeout) || duration(self.pingTimeout) >= duration('100ms')",message="socketIO.pingTimeout must be at least 100ms"
// +kubebuilder:validation:XValidation:rule="!has(self.path) || !(self.path in ['/ws/', '/admin/', '/health/', '/metrics/'])",message="socketIO.path must not be one of the runtime's own paths (/ws/, /admin/, /health/, /metrics/)"
type SocketIOSpec struct {
	// Enabled serves Socket.IO v4 clients at path. Without it the fleet
	// serves only the native protocol at /ws.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Polling allows the HTTP long-polling transport, socket.io-client's
	// default first transport. Polling needs every request of a session to
	// reach the same pod, so the Service gets ClientIP session affinity.
	// Without it clients must connect with transports: ['websocket'].
	// +optional
	Polling bool `json:"polling,omitempty"`
	// Path is where clients connect: the client's path option.
	// +optional
	// +kubebuilder:default="/socket.io/"
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~\-/]*/$`
	// +kubebuilder:validation:MaxLength=100
	Path string `json:"path,omitempty"`
	// Namespaces are the Socket.IO namespaces clients may connect to,
	// each served like the main one (the same token check, events and
	// messages); others are refused with "Invalid namespace". Default
	// ["/"].
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:Pattern=`^/[A-Za-z0-9._~\-/]*$`
	// +kubebuilder:validation:items:MaxLength=100
	Namespaces []string `json:"namespaces,omitempty"`
	// PingInterval is how often the server pings each client. Default 25s.
	// +optional
	PingInterval *metav1.Duration `json:"pingInterval,omitempty"`
	// PingTimeout closes a client that has not answered a ping within this
	// long. Default 20s.
	// +optional
	PingTimeout *metav1.Duration `json:"pingTimeout,omitempty"`
	// MaxHTTPBufferSize bounds one packet or polling request body in bytes.
	// Default 1000000.
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=104857600
	MaxHTTPBufferSize int32 `json:"maxHttpBufferSize,omitempty"`
}

// RPCProxySpec forwards client rpc events to an application backend.
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || (duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('1m'))",message="rpcProxy.timeout must be above 0s and at most 1m"
type RPCProxySpec struct {
	// URL is the backend's http:// or https:// endpoint.
	// +kubebuilder:validation:Pattern=`^https?://[^/]+`
	URL string `json:"url"`
	// Timeout bounds each call.
	// +kubebuilder:default="5s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// QueueSpec bounds each user's offline queue.
// +kubebuilder:validation:XValidation:rule="!has(self.ttl) || duration(self.ttl) >= duration('1s')",message="queue.ttl must be at least 1s"
type QueueSpec struct {
	// TTL is how long an undelivered message waits.
	// +kubebuilder:default="24h"
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
	// MaxLength is the messages kept per user; when full, the oldest
	// lowest-priority message is dropped and counted.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxLength int32 `json:"maxLength,omitempty"`
}

// ServiceSpec shapes the Service in front of the pods.
type ServiceSpec struct {
	// Type is ClusterIP, NodePort or LoadBalancer.
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`
	// Annotations are added to the Service, for example for a cloud load
	// balancer.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodSpec places and sizes the runtime pods.
type PodSpec struct {
	// Resources of the runtime container. Default: requests of 100m CPU
	// and 128Mi memory, a 512Mi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// NodeSelector restricts the nodes pods run on.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let pods run on tainted nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity rules for the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints replace the default spread, which is
	// across zones and nodes with ScheduleAnyway.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// PriorityClassName of the pods.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// Labels are added to the pods. They cannot replace the operator's own
	// app.kubernetes.io labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to the pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// MonitoringSpec integrates with the Prometheus Operator.
type MonitoringSpec struct {
	// ServiceMonitor creates a ServiceMonitor for the pods' /metrics.
	// It needs the Prometheus Operator's CRD; without it, the
	// MonitoringReady condition says so and nothing else is affected.
	// +optional
	ServiceMonitor bool `json:"serviceMonitor,omitempty"`
	// Interval is the scrape interval.
	// +kubebuilder:default="30s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// ConsoleSpec is the runtime's web console.
type ConsoleSpec struct {
	// Enabled serves the console. It needs an admin token to sign in.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// RealtimeServiceSpec is the desired fleet.
// +kubebuilder:validation:XValidation:rule="self.replicas <= 1 || has(self.redis)",message="more than one replica needs spec.redis: the in-memory broker cannot span pods"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || self.autoscaling.maxReplicas <= 1 || has(self.redis)",message="autoscaling above one replica needs spec.redis: the in-memory broker cannot span pods"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || self.autoscaling.targetConnectionsPerPod <= self.limits.maxConnectionsPerPod",message="autoscaling.targetConnectionsPerPod must not exceed limits.maxConnectionsPerPod"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(oldSelf.autoscaling) || self.replicas == oldSelf.replicas",message="spec.replicas cannot change while autoscaling is set, because the autoscaler owns the pod count (kubectl scale included): change autoscaling.minReplicas or autoscaling.maxReplicas, or remove autoscaling in the same change"
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
	// CORS lists the browser origins allowed to connect.
	// +optional
	CORS *CORSSpec `json:"cors,omitempty"`
	// RateLimits are the runtime's rate-limit rules and tiers.
	// +optional
	RateLimits *RateLimitsSpec `json:"rateLimits,omitempty"`
	// Channels are channel namespace rules and history.
	// +optional
	Channels *ChannelsSpec `json:"channels,omitempty"`
	// SocketIO is the Socket.IO v4 endpoint.
	// +optional
	SocketIO *SocketIOSpec `json:"socketIO,omitempty"`
	// Console serves the web console at /console/ on every pod
	// (docs/console.md). Off unless enabled.
	// +optional
	Console *ConsoleSpec `json:"console,omitempty"`
	// RPCProxy forwards client rpc events to an application backend.
	// +optional
	RPCProxy *RPCProxySpec `json:"rpcProxy,omitempty"`
	// Queue bounds each user's offline queue.
	// +kubebuilder:default={}
	// +optional
	Queue QueueSpec `json:"queue"`
	// Service shapes the Service in front of the pods.
	// +kubebuilder:default={}
	// +optional
	Service ServiceSpec `json:"service"`
	// Pod places and sizes the runtime pods.
	// +optional
	Pod *PodSpec `json:"pod,omitempty"`
	// Monitoring integrates with the Prometheus Operator.
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`
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
	// DesiredReplicas is the pods the Deployment asks for: spec.replicas,
	// or the autoscaler's choice when autoscaling is on.
	// +optional
	// +kubebuilder:default=0
	DesiredReplicas int32 `json:"desiredReplicas"`
	// Replicas is the pods that exist.
	// +optional
	// +kubebuilder:default=0
	Replicas int32 `json:"replicas"`
	// ReadyReplicas is the pods that are ready.
	// +optional
	// +kubebuilder:default=0
	ReadyReplicas int32 `json:"readyReplicas"`
	// UpdatedReplicas is the pods running the current template.
	// +optional
	// +kubebuilder:default=0
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// Selector is the pods' label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// ActiveConnections is realtime_active_connections summed over the
	// fleet's started pods, ready or not: a pod at its cap is not ready.
	// +optional
	// +kubebuilder:default=0
	ActiveConnections int64 `json:"activeConnections"`
	// StaleConnectionPods counts pods that did not answer the last
	// connection count; their last known count is in ActiveConnections.
	// +optional
	StaleConnectionPods int32 `json:"staleConnectionPods,omitempty"`
	// Endpoint is the in-cluster address of the Service.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// RealtimeService runs a fleet of Fleetwire runtime pods.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rts,categories=fleetwire
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Connections",type=integer,JSONPath=`.status.activeConnections`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`,priority=1,description="spec.image; empty runs the operator's runtime image"
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.autoscaling.minReplicas`,priority=1
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.autoscaling.maxReplicas`,priority=1
// +kubebuilder:printcolumn:name="Redis",type=string,JSONPath=`.spec.redis.mode`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
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
