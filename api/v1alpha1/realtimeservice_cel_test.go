package v1alpha1_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/test/k8senv"
)

func startAPIServer(t *testing.T) client.Client {
	t.Helper()
	env, err := k8senv.Environment(filepath.Join("..", "..", "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func secretRef() *corev1.SecretKeySelector {
	return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "jwt"}, Key: "secret"}
}

func rts(name string, mutate func(*v1.RealtimeServiceSpec)) *v1.RealtimeService {
	r := &v1.RealtimeService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       v1.RealtimeServiceSpec{Replicas: 1, Auth: v1.AuthSpec{JWTSecretRef: secretRef()}},
	}
	if mutate != nil {
		mutate(&r.Spec)
	}
	return r
}

// TestSchemaRules applies objects to a real kube-apiserver: valid ones get
// their defaults, invalid ones are refused with the documented message.
func TestSchemaRules(t *testing.T) {
	c := startAPIServer(t)
	ctx := context.Background()

	ok := rts("minimal", nil)
	if err := c.Create(ctx, ok); err != nil {
		t.Fatalf("minimal object refused: %v", err)
	}
	if ok.Spec.Limits.MaxConnectionsPerPod != 10000 || ok.Spec.Drain.Timeout == nil || ok.Spec.Drain.Timeout.Duration.String() != "30s" {
		t.Fatalf("defaults not applied: %+v", ok.Spec)
	}
	withRedis := rts("fleet", func(s *v1.RealtimeServiceSpec) {
		s.Replicas = 3
		s.Redis = &v1.RedisSpec{URL: "redis://redis:6379"}
		s.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 10, TargetConnectionsPerPod: 5000}
		s.Pod = &v1.PodSpec{Labels: map[string]string{"team": "chat", "example.com/tier": "gold"},
			Annotations: map[string]string{"prometheus.io/scrape": "true"}}
		s.Service.Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
	})
	if err := c.Create(ctx, withRedis); err != nil {
		t.Fatalf("fleet with Redis refused: %v", err)
	}

	tests := []struct {
		name   string
		mutate func(*v1.RealtimeServiceSpec)
		want   string
	}{
		{"replicas without redis", func(s *v1.RealtimeServiceSpec) { s.Replicas = 2 },
			"more than one replica needs spec.redis"},
		{"autoscaling without redis", func(s *v1.RealtimeServiceSpec) {
			s.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3, TargetConnectionsPerPod: 100}
		}, "autoscaling above one replica needs spec.redis"},
		{"min above max", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379"}
			s.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 5, MaxReplicas: 3, TargetConnectionsPerPod: 100}
		}, "autoscaling.minReplicas must not exceed autoscaling.maxReplicas"},
		{"target above the pod cap", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379"}
			s.Limits.MaxConnectionsPerPod = 1000
			s.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3, TargetConnectionsPerPod: 2000}
		}, "autoscaling.targetConnectionsPerPod must not exceed limits.maxConnectionsPerPod"},
		{"both url and urlSecretRef", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379", URLSecretRef: secretRef()}
		}, "set exactly one of redis.url and redis.urlSecretRef"},
		{"neither url nor urlSecretRef", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{}
		}, "set exactly one of redis.url and redis.urlSecretRef"},
		{"sentinel without master", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379", Mode: v1.RedisSentinel, Addresses: []string{"s:26379"}}
		}, "redis.sentinelMaster is required"},
		{"auth without a key", func(s *v1.RealtimeServiceSpec) { s.Auth = v1.AuthSpec{} },
			"auth needs jwtSecretRef"},
		{"roles rule without roles", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "ops", Allow: "roles"}}}
		}, "a channel namespace with allow: roles needs at least one role"},
		{"built-in channel namespace", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "user", Allow: "deny"}}}
		}, "user, team and admin are built-in channel namespaces"},
		{"socket.io ping interval too short", func(s *v1.RealtimeServiceSpec) {
			s.SocketIO = &v1.SocketIOSpec{Enabled: true, PingInterval: &metav1.Duration{Duration: time.Millisecond}}
		}, "socketIO.pingInterval must be at least 100ms"},
		{"socket.io ping timeout too short", func(s *v1.RealtimeServiceSpec) {
			s.SocketIO = &v1.SocketIOSpec{Enabled: true, PingTimeout: &metav1.Duration{Duration: time.Millisecond}}
		}, "socketIO.pingTimeout must be at least 100ms"},
		{"socket.io on the runtime's own path", func(s *v1.RealtimeServiceSpec) {
			s.SocketIO = &v1.SocketIOSpec{Enabled: true, Path: "/ws/"}
		}, "socketIO.path must not be one of the runtime's own paths"},
		{"socket.io path without slashes", func(s *v1.RealtimeServiceSpec) {
			s.SocketIO = &v1.SocketIOSpec{Enabled: true, Path: "io"}
		}, "spec.socketIO.path"},
		{"socket.io namespace without its slash", func(s *v1.RealtimeServiceSpec) {
			s.SocketIO = &v1.SocketIOSpec{Enabled: true, Namespaces: []string{"/", "chat"}}
		}, "spec.socketIO.namespaces[1]"},
		{"origin with a path", func(s *v1.RealtimeServiceSpec) {
			s.CORS = &v1.CORSSpec{AllowedOrigins: []string{"https://app.example.com/path"}}
		}, "spec.cors.allowedOrigins[0]"},
		{"default rule of roles without roles", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Default: &v1.ChannelRule{Allow: "roles"}}
		}, "a channel rule with allow: roles needs at least one role"},
		{"roles on a namespace that does not use them", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "ops", Allow: "deny", Roles: []string{"admin"}}}}
		}, "roles are only used with allow: roles"},
		{"client publishing by roles without roles", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "ops", Publish: "roles"}}}
		}, "publish: roles needs at least one role in publishRoles"},
		{"publish roles without publish: roles", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Default: &v1.ChannelRule{Publish: "subscribers", PublishRoles: []string{"x"}}}
		}, "publishRoles are only used with publish: roles"},
		{"publish proxy without client publishing", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "chat", PublishProxy: true}}}
		}, "publishProxy needs publish: subscribers or roles"},
		{"an unknown publish rule", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "chat", Publish: "everyone"}}}
		}, "spec.channels.namespaces[0].publish"},
		{"join and leave events without presence", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Namespaces: []v1.ChannelNamespace{{Name: "doc", JoinLeave: true}}}
		}, "joinLeave needs presence: true"},
		{"redis URL without a host", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://"}
		}, "spec.redis.url"},
		{"scale-down window beyond the HPA's limit", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379"}
			s.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3, TargetConnectionsPerPod: 100, ScaleDownStabilizationSeconds: 7200}
		}, "spec.autoscaling.scaleDownStabilizationSeconds"},
		{"roles on a rule that does not use them", func(s *v1.RealtimeServiceSpec) {
			s.Channels = &v1.ChannelsSpec{Default: &v1.ChannelRule{Allow: "deny", Roles: []string{"admin"}}}
		}, "roles are only used with allow: roles"},
		{"sentinel without addresses", func(s *v1.RealtimeServiceSpec) {
			s.Redis = &v1.RedisSpec{URL: "redis://r:6379", Mode: v1.RedisSentinel, SentinelMaster: "m"}
		}, "redis.addresses must list the sentinels"},
		{"pre-drain delay too long", func(s *v1.RealtimeServiceSpec) {
			s.Drain.PreDrainDelay = &metav1.Duration{Duration: 10 * time.Minute}
		}, "drain.preDrainDelay must be between 0s and 5m"},
		{"drain timeout too long", func(s *v1.RealtimeServiceSpec) {
			s.Drain.Timeout = &metav1.Duration{Duration: 2 * time.Hour}
		}, "drain.timeout must be between 0s and 1h"},
		{"queue ttl too short", func(s *v1.RealtimeServiceSpec) {
			s.Queue.TTL = &metav1.Duration{Duration: 500 * time.Millisecond}
		}, "queue.ttl must be at least 1s"},
		{"rpc timeout too long", func(s *v1.RealtimeServiceSpec) {
			s.RPCProxy = &v1.RPCProxySpec{URL: "http://backend:8080", Timeout: &metav1.Duration{Duration: 2 * time.Minute}}
		}, "rpcProxy.timeout must be above 0s and at most 1m"},
		{"unknown service type", func(s *v1.RealtimeServiceSpec) { s.Service.Type = "ExternalName" },
			"spec.service.type"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Create(ctx, rts("bad-"+string(rune('a'+i)), tt.mutate))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			// A rule that reads an absent field fails with "no such key"
			// before its message; every rule must guard with has().
			if strings.Contains(err.Error(), "no such key") {
				t.Fatalf("err = %v: a rule read an absent field", err)
			}
		})
	}
}
