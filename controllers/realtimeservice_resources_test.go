package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/runtime/config"
)

func minimalRTS() *v1.RealtimeService {
	return &v1.RealtimeService{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "apps", UID: "uid-1"},
		Spec: v1.RealtimeServiceSpec{
			Replicas: 1,
			Auth:     v1.AuthSpec{JWTSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "jwt"}, Key: "secret"}},
			Limits:   v1.LimitsSpec{MaxConnectionsPerPod: 10000, MaxMessageBytes: 65536},
		},
	}
}

func productionRTS() *v1.RealtimeService {
	rts := minimalRTS()
	rts.Spec.Redis = &v1.RedisSpec{
		URLSecretRef:      &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis"}, Key: "url"},
		PasswordSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis"}, Key: "password"},
		Mode:              v1.RedisStandalone, KeyPrefix: "chat:", TLS: true,
	}
	rts.Spec.Auth.Issuer, rts.Spec.Auth.Audience = "https://id.example.com", "chat"
	rts.Spec.CORS = &v1.CORSSpec{AllowedOrigins: []string{"https://app.example.com", "https://*.example.com"}}
	rts.Spec.RateLimits = &v1.RateLimitsSpec{
		Messages:           &v1.RateRule{Limit: 120, Window: metav1.Duration{Duration: time.Minute}},
		Events:             []v1.EventRateRule{{Event: "subscribe", Limit: 5, Window: metav1.Duration{Duration: 10 * time.Second}}},
		ConnectionsPerIP:   &v1.RateRule{Limit: 50, Window: metav1.Duration{Duration: time.Minute}},
		ConnectionsPerUser: ptr.To[int32](7),
		HTTPPerCaller:      &v1.RateRule{Limit: 1000, Window: metav1.Duration{Duration: time.Minute}},
		Abuse:              &v1.AbuseSpec{Blocked: 3, Window: metav1.Duration{Duration: 30 * time.Second}},
		Tiers: []v1.RateTier{{Name: "premium", Messages: &v1.RateRule{Limit: 600, Window: metav1.Duration{Duration: time.Minute}},
			ConnectionsPerUser: ptr.To[int32](50),
			Events:             []v1.EventRateRule{{Event: "subscribe", Limit: 50, Window: metav1.Duration{Duration: time.Minute}}}}},
	}
	rts.Spec.Channels = &v1.ChannelsSpec{
		Default: &v1.ChannelRule{Allow: "deny"},
		Namespaces: []v1.ChannelNamespace{{Name: "ops", Allow: "roles", Roles: []string{"admin"}},
			{Name: "news", Allow: "authenticated", Publish: "roles", PublishRoles: []string{"editor"}, PublishProxy: true, Presence: true, JoinLeave: true}},
		History:        []v1.ChannelHistory{{Namespace: "news", Size: 100, TTL: metav1.Duration{Duration: 5 * time.Minute}}},
		DefaultHistory: &v1.HistoryBounds{Size: 0},
	}
	rts.Spec.RPCProxy = &v1.RPCProxySpec{URL: "http://backend.apps.svc:8080/rpc", Timeout: &metav1.Duration{Duration: 3 * time.Second}}
	rts.Spec.Queue = v1.QueueSpec{TTL: &metav1.Duration{Duration: 48 * time.Hour}, MaxLength: 2000}
	rts.Spec.Drain = v1.DrainSpec{PreDrainDelay: &metav1.Duration{Duration: 10 * time.Second}, Timeout: &metav1.Duration{Duration: 60 * time.Second}}
	rts.Spec.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 20, TargetConnectionsPerPod: 8000,
		TargetCPUUtilizationPercentage: ptr.To[int32](75), ScaleDownStabilizationSeconds: 600}
	rts.Spec.SocketIO = &v1.SocketIOSpec{Enabled: true, Polling: true, Path: "/rt/", PingInterval: &metav1.Duration{Duration: 10 * time.Second},
		PingTimeout: &metav1.Duration{Duration: 5 * time.Second}, MaxHTTPBufferSize: 200000, Namespaces: []string{"/", "/chat"}}
	rts.Spec.Service = v1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Annotations: map[string]string{"lb": "internal"}}
	rts.Spec.Pod = &v1.PodSpec{
		NodeSelector:      map[string]string{"pool": "realtime"},
		PriorityClassName: "high",
		Labels:            map[string]string{"team": "chat", labelName: "hijack"},
		Annotations:       map[string]string{"note": "x"},
	}
	return rts
}

func desiredFor(t *testing.T, rts *v1.RealtimeService) *desired {
	t.Helper()
	y, err := renderConfig(rts)
	if err != nil {
		t.Fatal(err)
	}
	return &desired{rts: rts, image: "example/fleetwire:1", configYAML: y,
		secretData: map[string][]byte{"jwt/secret": []byte("s3cret")}}
}

// The rendered file must load in the runtime's own loader and mean what
// the spec says.
func TestRenderedConfigLoadsInTheRuntime(t *testing.T) {
	tests := []struct {
		name  string
		rts   *v1.RealtimeService
		check func(t *testing.T, c *config.Config)
	}{
		{"minimal", minimalRTS(), func(t *testing.T, c *config.Config) {
			if c.UsesRedis() || !c.Production || c.Port != runtimePort || c.Limits.MaxConnections != 10000 {
				t.Errorf("config = %+v", c)
			}
			if c.Drain.PreDelay.Duration != 5*time.Second || c.Drain.Timeout.Duration != 30*time.Second {
				t.Errorf("drain = %+v, want the runtime defaults", c.Drain)
			}
			if c.SocketIO.Enabled {
				t.Errorf("socketIO = %+v, want it off unless asked for", c.SocketIO)
			}
			if c.ConsoleEnabled() {
				t.Error("the console is on, want it off unless asked for")
			}
		}},
		{"console", func() *v1.RealtimeService {
			rts := minimalRTS()
			rts.Spec.Console = &v1.ConsoleSpec{Enabled: true}
			return rts
		}(), func(t *testing.T, c *config.Config) {
			if !c.ConsoleEnabled() {
				t.Error("spec.console.enabled did not turn the console on")
			}
		}},
		{"websocket-only Socket.IO", func() *v1.RealtimeService {
			rts := minimalRTS()
			rts.Spec.SocketIO = &v1.SocketIOSpec{Enabled: true}
			return rts
		}(), func(t *testing.T, c *config.Config) {
			if !c.SocketIO.Enabled || c.SocketIO.Polling() || c.SocketIO.Path != "/socket.io/" || c.SocketIO.PingInterval.Duration != 25*time.Second {
				t.Errorf("socketIO = %+v, want websocket only with the defaults", c.SocketIO)
			}
		}},
		{"production", productionRTS(), func(t *testing.T, c *config.Config) {
			// The URL comes from its Secret through REDIS_URL; the test stood it in.
			if c.RedisKeyPrefix != "chat:" || c.RedisMode != "standalone" || !c.RedisTLS || c.RedisURL != "redis://redis.apps.svc:6379" {
				t.Errorf("redis = %q %q %v %q", c.RedisKeyPrefix, c.RedisMode, c.RedisTLS, c.RedisURL)
			}
			if c.Auth.Issuer != "https://id.example.com" || c.Auth.Audience != "chat" {
				t.Errorf("auth = %+v", c.Auth)
			}
			if strings.Join(c.CORS.Origins, ",") != "https://app.example.com,https://*.example.com" {
				t.Errorf("origins = %v", c.CORS.Origins)
			}
			p := c.RatePolicy()
			if p.Messages.Limit != 120 || p.Events["subscribe"].Limit != 5 || p.Events["subscribe"].Window != 10*time.Second ||
				p.ConnectionsPerIP.Limit != 50 || p.ConnectionsPerUser != 7 || p.HTTPPerCaller.Limit != 1000 ||
				p.AbuseBlocked != 3 || p.AbuseWindow != 30*time.Second {
				t.Errorf("rate policy = %+v", p)
			}
			if tier := p.Tiers["premium"]; tier.Messages == nil || tier.Messages.Limit != 600 || *tier.ConnectionsPerUser != 50 ||
				tier.Events["subscribe"].Limit != 50 {
				t.Errorf("premium tier = %+v", tier)
			}
			if c.Channels.Default.Allow != "deny" || c.Channels.Namespaces["ops"].Roles[0] != "admin" ||
				c.Channels.History["news"].Size != 100 || c.Channels.History["news"].TTL != "5m0s" ||
				c.Channels.DefaultHistory == nil || c.Channels.DefaultHistory.Size != 0 ||
				c.Channels.Namespaces["news"].Publish != "roles" || c.Channels.Namespaces["news"].PublishRoles[0] != "editor" || !c.Channels.Namespaces["news"].PublishProxy ||
				!c.Channels.Namespaces["news"].Presence || !c.Channels.Namespaces["news"].JoinLeave {
				t.Errorf("channels = %+v", c.Channels)
			}
			if c.RPCProxy.URL != "http://backend.apps.svc:8080/rpc" || c.RPCProxy.Timeout.Duration != 3*time.Second {
				t.Errorf("rpc = %+v", c.RPCProxy)
			}
			if c.Queue.TTL.Duration != 48*time.Hour || c.Queue.MaxPerUser != 2000 {
				t.Errorf("queue = %+v", c.Queue)
			}
			if c.Drain.PreDelay.Duration != 10*time.Second || c.Drain.Timeout.Duration != time.Minute {
				t.Errorf("drain = %+v", c.Drain)
			}
			sio := c.SocketIO
			if !sio.Enabled || !sio.Polling() || sio.Path != "/rt/" || sio.PingInterval.Duration != 10*time.Second ||
				sio.PingTimeout.Duration != 5*time.Second || sio.MaxHTTPBufferSize != 200000 || !slices.Equal(sio.Namespaces, []string{"/", "/chat"}) {
				t.Errorf("socketIO = %+v", sio)
			}
		}},
		{"public key and sentinel", func() *v1.RealtimeService {
			rts := minimalRTS()
			rts.Spec.Auth = v1.AuthSpec{PublicKeySecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pk"}, Key: "pem"}}
			rts.Spec.Redis = &v1.RedisSpec{URL: "redis://:pw@ignored:6379", Mode: v1.RedisSentinel, SentinelMaster: "m",
				Addresses: []string{"s1:26379", "s2:26379"}}
			return rts
		}(), func(t *testing.T, c *config.Config) {
			if c.Auth.PublicKeyFile != publicKeyDir+"/"+publicKeyFile || c.RedisMasterName != "m" || len(c.RedisAddrs) != 2 ||
				c.RedisURL != "redis://:pw@ignored:6379" {
				t.Errorf("config = %+v", c)
			}
		}},
		{"zero turns a limit off", func() *v1.RealtimeService {
			rts := minimalRTS()
			rts.Spec.RateLimits = &v1.RateLimitsSpec{Messages: &v1.RateRule{Limit: 0}, ConnectionsPerUser: ptr.To[int32](0),
				ConnectionsPerIP: &v1.RateRule{Limit: 0}}
			rts.Spec.Limits.BadRequestsPerSecondPerIP = ptr.To[int32](0)
			return rts
		}(), func(t *testing.T, c *config.Config) {
			if c.RateLimit.Max != 0 || c.RateLimit.ConnectionsPerUser != 0 || c.RateLimit.ConnectionsPerIP.Limit != 0 {
				t.Errorf("rate limit = %+v, want every rule off", c.RateLimit)
			}
			if c.Limits.BadRequestsPerSecondPerIP != 0 {
				t.Errorf("limits.badRequestsPerSecondPerIP = %d, want 0 (off)", c.Limits.BadRequestsPerSecondPerIP)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, err := renderConfig(tt.rts)
			if err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			if err := config.Parse(y, &cfg); err != nil {
				t.Fatalf("the runtime cannot parse the rendered config: %v\n%s", err, y)
			}
			// Secrets arrive through the environment; stand them in.
			cfg.Auth.Secret = strings.Repeat("k", 32)
			if cfg.RedisMode == "" || cfg.RedisMode == "standalone" {
				if tt.rts.Spec.Redis != nil && cfg.RedisURL == "" {
					cfg.RedisURL = "redis://redis.apps.svc:6379"
				}
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the runtime rejects the rendered config: %v\n%s", err, y)
			}
			tt.check(t, &cfg)
		})
	}
}

func TestBuildDeployment(t *testing.T) {
	tests := []struct {
		name  string
		rts   *v1.RealtimeService
		check func(t *testing.T, dep *appsv1.Deployment)
	}{
		{"minimal", minimalRTS(), func(t *testing.T, dep *appsv1.Deployment) {
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
				t.Errorf("replicas = %v, want 1", dep.Spec.Replicas)
			}
			pod := dep.Spec.Template.Spec
			if *pod.TerminationGracePeriodSeconds != 45 { // 5s + 30s + 5s + 5s
				t.Errorf("grace = %d, want 45", *pod.TerminationGracePeriodSeconds)
			}
			if len(pod.TopologySpreadConstraints) != 2 || pod.TopologySpreadConstraints[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
				t.Errorf("spread = %+v", pod.TopologySpreadConstraints)
			}
			c := pod.Containers[0]
			if len(c.Env) != 4 || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" || c.Env[1].ValueFrom.FieldRef.FieldPath != "status.podIP" ||
				c.Env[2].Name != "JWT_SECRET" || c.Env[2].ValueFrom.SecretKeyRef.Name != "jwt" || c.Env[3].Name != "GOMEMLIMIT" {
				t.Errorf("env = %+v", c.Env)
			}
			if len(pod.Volumes) != 3 || pod.Volumes[2].DownwardAPI == nil || pod.Volumes[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.annotations" {
				t.Errorf("volumes = %+v, want config, tmp and the pod's annotations", pod.Volumes)
			}
			if m := c.VolumeMounts[2]; m.Name != podInfoVolume || m.MountPath != podInfoDir || !m.ReadOnly {
				t.Errorf("mounts = %+v, want the pod's annotations read-only at %s", c.VolumeMounts, podInfoDir)
			}
		}},
		{"production", productionRTS(), func(t *testing.T, dep *appsv1.Deployment) {
			if dep.Spec.Replicas != nil {
				t.Errorf("replicas = %d, want unset so the HPA owns it", *dep.Spec.Replicas)
			}
			pod := dep.Spec.Template.Spec
			if *pod.TerminationGracePeriodSeconds != 80 { // 10s + 60s + 5s + 5s
				t.Errorf("grace = %d, want 80", *pod.TerminationGracePeriodSeconds)
			}
			var names []string
			for _, e := range pod.Containers[0].Env {
				names = append(names, e.Name)
			}
			if strings.Join(names, ",") != "POD_NAME,POD_IP,JWT_SECRET,REDIS_URL,REDIS_PASSWORD,GOMEMLIMIT" {
				t.Errorf("env = %v", names)
			}
			if pod.NodeSelector["pool"] != "realtime" || pod.PriorityClassName != "high" {
				t.Errorf("placement = %v %q", pod.NodeSelector, pod.PriorityClassName)
			}
			l := dep.Spec.Template.Labels
			if l["team"] != "chat" || l[labelName] != appName {
				t.Errorf("pod labels = %v: user labels are added, ours are kept", l)
			}
		}},
		{"public key mounted from its Secret", func() *v1.RealtimeService {
			rts := minimalRTS()
			rts.Spec.Auth = v1.AuthSpec{PublicKeySecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pk"}, Key: "pem"}}
			return rts
		}(), func(t *testing.T, dep *appsv1.Deployment) {
			v := dep.Spec.Template.Spec.Volumes[3]
			if v.Secret == nil || v.Secret.SecretName != "pk" || v.Secret.Items[0].Key != "pem" || v.Secret.Items[0].Path != publicKeyFile {
				t.Errorf("volume = %+v", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dep := buildDeployment(desiredFor(t, tt.rts))
			checkRestricted(t, dep)
			tt.check(t, dep)
		})
	}
}

// checkRestricted holds for every Deployment: the restricted pod security
// profile, probes, a surge-only rollout and the config hash.
func checkRestricted(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	ru := dep.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.String() != "25%" {
		t.Errorf("rolling update = %+v", ru)
	}
	pod := dep.Spec.Template.Spec
	if !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		*pod.AutomountServiceAccountToken {
		t.Errorf("pod security = %+v", pod.SecurityContext)
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || !*sc.RunAsNonRoot {
		t.Errorf("container security = %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/health/live" || c.ReadinessProbe.HTTPGet.Path != "/health/ready" || c.StartupProbe == nil {
		t.Errorf("probes = %+v %+v %+v", c.LivenessProbe, c.ReadinessProbe, c.StartupProbe)
	}
	if c.Image != "example/fleetwire:1" || c.Args[1] != "/etc/fleetwire/runtime.yaml" {
		t.Errorf("image/args = %q %v", c.Image, c.Args)
	}
	if len(dep.Spec.Template.Annotations[AnnotationConfigHash]) != 16 {
		t.Errorf("annotations = %v", dep.Spec.Template.Annotations)
	}
	if dep.Spec.Selector.MatchLabels[labelInstance] != "chat" {
		t.Errorf("selector = %v", dep.Spec.Selector)
	}
}

func TestConfigHashFollowsConfigAndSecrets(t *testing.T) {
	d := desiredFor(t, minimalRTS())
	base := d.configHash()
	if d.configHash() != base {
		t.Fatal("hash is not stable")
	}
	d.secretData["jwt/secret"] = []byte("rotated")
	rotated := d.configHash()
	if rotated == base {
		t.Error("a Secret rotation did not change the hash")
	}
	rts := minimalRTS()
	rts.Spec.Limits.MaxConnectionsPerPod = 500
	d2 := desiredFor(t, rts)
	if d2.configHash() == base {
		t.Error("a config change did not change the hash")
	}
}

func TestBuildService(t *testing.T) {
	tests := []struct {
		name     string
		rts      *v1.RealtimeService
		typ      corev1.ServiceType
		affinity corev1.ServiceAffinity
	}{
		{"minimal", minimalRTS(), corev1.ServiceTypeClusterIP, ""},
		{"polling needs affinity", productionRTS(), corev1.ServiceTypeLoadBalancer, corev1.ServiceAffinityClientIP},
		{"websocket-only Socket.IO needs none", func() *v1.RealtimeService {
			r := minimalRTS()
			r.Spec.SocketIO = &v1.SocketIOSpec{Enabled: true}
			return r
		}(), corev1.ServiceTypeClusterIP, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := buildService(desiredFor(t, tt.rts))
			if svc.Spec.Type != tt.typ || svc.Spec.SessionAffinity != tt.affinity {
				t.Errorf("type %q affinity %q, want %q %q", svc.Spec.Type, svc.Spec.SessionAffinity, tt.typ, tt.affinity)
			}
			if p := svc.Spec.Ports[0]; p.Name != "http" || p.Port != 8080 || p.TargetPort.StrVal != "http" {
				t.Errorf("port = %+v", p)
			}
			if svc.Spec.Selector[labelInstance] != "chat" || svc.Labels[labelManagedBy] != managerName {
				t.Errorf("selector %v labels %v", svc.Spec.Selector, svc.Labels)
			}
		})
	}
}

func TestBuildHPA(t *testing.T) {
	hpa := buildHPA(desiredFor(t, productionRTS()))
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 20 || hpa.Spec.ScaleTargetRef.Name != "chat" {
		t.Errorf("spec = %+v", hpa.Spec)
	}
	m := hpa.Spec.Metrics[0]
	if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods.Metric.Name != "realtime_active_connections" ||
		m.Pods.Target.Type != autoscalingv2.AverageValueMetricType || m.Pods.Target.AverageValue.Value() != 8000 {
		t.Errorf("connections metric = %+v", m.Pods)
	}
	if len(hpa.Spec.Metrics) != 2 || *hpa.Spec.Metrics[1].Resource.Target.AverageUtilization != 75 {
		t.Errorf("cpu metric = %+v", hpa.Spec.Metrics)
	}
	if *hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 600 {
		t.Errorf("scale down = %+v", hpa.Spec.Behavior.ScaleDown)
	}
	if p := hpa.Spec.Behavior.ScaleDown.Policies[0]; p.Type != autoscalingv2.PodsScalingPolicy || p.Value != 1 || p.PeriodSeconds != 60 {
		t.Errorf("scale-down pods policy without scaleDownPodsPerMinute = %+v, want 1 pod a minute", p)
	}
	faster := productionRTS()
	faster.Spec.Autoscaling.ScaleDownPodsPerMinute = 5
	if p := buildHPA(desiredFor(t, faster)).Spec.Behavior.ScaleDown.Policies[0]; p.Value != 5 || p.PeriodSeconds != 60 {
		t.Errorf("scale-down pods policy with scaleDownPodsPerMinute 5 = %+v", p)
	}

	noCPU := productionRTS()
	noCPU.Spec.Autoscaling.TargetCPUUtilizationPercentage = nil
	if got := len(buildHPA(desiredFor(t, noCPU)).Spec.Metrics); got != 1 {
		t.Errorf("metrics without a CPU target = %d, want 1", got)
	}
}

func TestBuildPDB(t *testing.T) {
	tests := []struct {
		name string
		rts  func() *v1.RealtimeService
		want bool
	}{
		{"one pod gets none", minimalRTS, false},
		{"three pods", func() *v1.RealtimeService { r := minimalRTS(); r.Spec.Replicas = 3; return r }, true},
		{"autoscaling above one", productionRTS, true},
		{"autoscaling capped at one", func() *v1.RealtimeService {
			r := minimalRTS()
			r.Spec.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 1, TargetConnectionsPerPod: 10}
			return r
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := buildPDB(desiredFor(t, tt.rts()))
			if (pdb != nil) != tt.want {
				t.Fatalf("pdb = %v, want one: %v", pdb, tt.want)
			}
			if pdb != nil && (pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.Selector.MatchLabels[labelInstance] != "chat") {
				t.Errorf("pdb = %+v", pdb.Spec)
			}
		})
	}
}

func TestBuildSmallObjects(t *testing.T) {
	d := desiredFor(t, productionRTS())
	if sa := buildServiceAccount(d); *sa.AutomountServiceAccountToken || sa.Name != "chat" {
		t.Errorf("service account = %+v", sa)
	}
	if cm := buildConfigMap(d); cm.Data[configFile] != string(d.configYAML) || cm.Namespace != "apps" {
		t.Errorf("config map = %+v", cm)
	}
	if strings.Contains(string(d.configYAML), "s3cret") {
		t.Error("a Secret value leaked into the ConfigMap")
	}
	sm := buildServiceMonitor(d)
	if sm.GetKind() != "ServiceMonitor" || sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("service monitor = %v", sm.Object)
	}
	eps := sm.Object["spec"].(map[string]any)["endpoints"].([]any)
	if ep := eps[0].(map[string]any); ep["port"] != "http" || ep["path"] != "/metrics" || ep["interval"] != "30s" {
		t.Errorf("endpoint = %v", ep)
	}
}
