// Command fleetwire-operator is the manager that reconciles RealtimeService
// objects into runtime fleets.
//
//	fleetwire-operator [flags]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/controllers"
	"github.com/fleetwire/fleetwire/runtime/buildinfo"
)

// defaultRuntimeImage is the image pods run when spec.image is empty: the
// same image as the operator, which carries both binaries.
func defaultRuntimeImage() string {
	tag := buildinfo.Version
	if tag == "dev" {
		tag = "latest"
	}
	return "ghcr.io/fleetwire/fleetwire:" + tag
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "fleetwire-operator: %v\n", err)
		}
		os.Exit(2)
	}
}

type options struct {
	metricsAddr        string
	secureMetrics      bool
	probeAddr          string
	leaderElect        bool
	leaderElectionNS   string
	runtimeImage       string
	namespaces         string
	connectionInterval time.Duration
	concurrency        int
	customMetricsPort  int
	customMetricsSvc   string
	customMetricsSvcPt int
	fleetTotalsPort    int
	zap                zap.Options
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("fleetwire-operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "address of the metrics endpoint; 0 turns it off")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "serve metrics over HTTPS, to callers authorised by a SubjectAccessReview")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader, so only one replica of the operator reconciles")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the operator's own)")
	fs.StringVar(&o.runtimeImage, "runtime-image", defaultRuntimeImage(), "runtime image for RealtimeServices without spec.image")
	fs.StringVar(&o.namespaces, "namespaces", "", "comma-separated namespaces to watch; empty watches all")
	fs.DurationVar(&o.connectionInterval, "connection-interval", controllers.DefaultConnectionInterval, "how often ready pods' connection counts are read")
	fs.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "RealtimeServices reconciled at once")
	fs.IntVar(&o.customMetricsPort, "custom-metrics-port", 6443, "HTTPS port of the custom metrics API (custom.metrics.k8s.io) that serves the HPAs their pods' connections; 0 turns it off")
	fs.StringVar(&o.customMetricsSvc, "custom-metrics-service", "fleetwire-system/fleetwire-custom-metrics", "namespace/name of the Service in front of the custom metrics API, which its APIService points at")
	fs.IntVar(&o.customMetricsSvcPt, "custom-metrics-service-port", 443, "that Service's port")
	fs.IntVar(&o.fleetTotalsPort, "fleet-totals-port", 8082, "HTTP port, on the same Service, of each fleet's total connections, which the keda provider's trigger reads; 0 turns it off")
	o.zap.Development = false
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.runtimeImage == "" {
		return nil, errors.New("--runtime-image must not be empty")
	}
	if o.concurrency < 1 {
		return nil, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.concurrency)
	}
	if o.customMetricsPort < 0 || o.customMetricsPort > 65535 {
		return nil, fmt.Errorf("--custom-metrics-port must be from 0 to 65535, got %d", o.customMetricsPort)
	}
	if o.fleetTotalsPort < 0 || o.fleetTotalsPort > 65535 {
		return nil, fmt.Errorf("--fleet-totals-port must be from 0 to 65535, got %d", o.fleetTotalsPort)
	}
	if ns, name, ok := strings.Cut(o.customMetricsSvc, "/"); (o.customMetricsPort != 0 || o.fleetTotalsPort != 0) && (!ok || ns == "" || name == "") {
		return nil, fmt.Errorf("--custom-metrics-service must be namespace/name, got %q", o.customMetricsSvc)
	}
	if o.connectionInterval < time.Second {
		return nil, fmt.Errorf("--connection-interval must be at least 1s, got %s", o.connectionInterval)
	}
	return o, nil
}

func run(args []string, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		_, err := fmt.Fprintln(os.Stdout, "fleetwire-operator", buildinfo.Get())
		return err
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap), zap.WriteTo(stderr)))
	ctrlmetrics.Registry.MustRegister(buildinfo.Collector())
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1.AddToScheme(scheme))

	metricsOpts := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	var cacheOpts cache.Options
	if o.namespaces != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(o.namespaces, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				cacheOpts.DefaultNamespaces[ns] = cache.Config{}
			}
		}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "operator.realtime.fleetwire.io",
		LeaderElectionNamespace: o.leaderElectionNS,
		Cache:                   cacheOpts,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	counts := &controllers.MetricsScraper{}
	var registrar *controllers.MetricsAPIRegistrar
	if o.customMetricsPort != 0 {
		ns, name, _ := strings.Cut(o.customMetricsSvc, "/")
		registrar = &controllers.MetricsAPIRegistrar{Client: mgr.GetClient(), Namespace: ns, Name: name, Port: int32(o.customMetricsSvcPt)}
	}
	r := &controllers.RealtimeServiceReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("fleetwire-operator"),
		DefaultImage:            o.runtimeImage,
		Connections:             counts,
		ConnectionInterval:      o.connectionInterval,
		MaxConcurrentReconciles: o.concurrency,
	}
	if registrar != nil {
		r.MetricsAPI = registrar
	}
	if o.fleetTotalsPort != 0 {
		ns, name, _ := strings.Cut(o.customMetricsSvc, "/")
		r.FleetTotalsURL = fmt.Sprintf("http://%s.%s.svc:%d", name, ns, o.fleetTotalsPort)
	}
	// Each RealtimeService's status as gauges, for the chart's alerts and
	// dashboard.
	ctrlmetrics.Registry.MustRegister(controllers.NewFleetCollector(mgr.GetCache()))
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if o.customMetricsPort != 0 {
		cm := &controllers.CustomMetrics{Pods: mgr.GetAPIReader(), Counts: counts,
			MaxAge: o.connectionInterval + controllers.MaxCountDuration}
		caBundle, err := addCustomMetricsAPI(mgr, cm, o.customMetricsPort, registrar.Namespace, registrar.Name)
		if err != nil {
			return fmt.Errorf("the custom metrics API: %w", err)
		}
		registrar.CABundle = caBundle
		if err := mgr.Add(registrar); err != nil {
			return err
		}
	}
	if o.fleetTotalsPort != 0 {
		ft := &controllers.FleetTotals{Client: mgr.GetAPIReader(), Counts: counts,
			MaxAge: o.connectionInterval + controllers.MaxCountDuration}
		if err := mgr.Add(leaderHTTPServer(ft, o.fleetTotalsPort)); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	bi := buildinfo.Get()
	log.Info("starting the manager", "version", bi.Version, "commit", bi.Commit, "buildDate", bi.Date, "goVersion", bi.GoVersion,
		"runtimeImage", o.runtimeImage,
		"namespaces", o.namespaces, "leaderElection", o.leaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}
