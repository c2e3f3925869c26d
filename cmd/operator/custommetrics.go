package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/fleetwire/fleetwire/controllers"
)

// addCustomMetricsAPI serves custom.metrics.k8s.io on port, from the
// leader only: the leader is the replica that counts the connections. It
// is built here, so a mistake in its setup stops the operator at start;
// it listens once the replica leads.
//
// Its certificate is self-signed and kept in memory, as the root
// filesystem is read-only; the APIService that points at it skips TLS
// verification (config/default). Callers are authenticated and
// authorised by the API server, as an aggregated API's are: the front
// proxy's client certificate, TokenReviews and SubjectAccessReviews.
func addCustomMetricsAPI(mgr manager.Manager, p *controllers.CustomMetrics, port int) error {
	klog.SetLogger(ctrl.Log.WithName("custom-metrics"))
	ab := &basecmd.AdapterBase{Name: "fleetwire-custom-metrics", FlagSet: pflag.NewFlagSet("custom-metrics", pflag.ContinueOnError)}
	ab.InstallFlags()
	ab.SecureServing.BindAddress = net.IPv4zero
	ab.SecureServing.BindPort = port
	ab.SecureServing.ServerCert.CertDirectory = "" // generated, in memory
	// Outside a cluster (tests, a laptop) the kubeconfig the manager uses
	// reaches the API server for listing pods and for delegated auth.
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		ab.RemoteKubeConfigFile = kc
		ab.Authentication.RemoteKubeConfigFile = kc
		ab.Authorization.RemoteKubeConfigFile = kc
	}
	ab.WithCustomMetrics(p)
	if _, err := ab.Server(); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return ab.Run(ctx) }))
}

// leaderHTTPServer serves h over plain HTTP on port while the replica
// leads: the leader is the replica that holds the counts.
func leaderHTTPServer(h http.Handler, port int) manager.Runnable {
	return manager.RunnableFunc(func(ctx context.Context) error {
		srv := &http.Server{Addr: ":" + strconv.Itoa(port), Handler: h,
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case err := <-errc:
			return fmt.Errorf("serving fleet totals on :%d: %w", port, err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		}
	})
}
