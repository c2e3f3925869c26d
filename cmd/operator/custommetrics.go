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
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certutil "k8s.io/client-go/util/cert"
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
// Its serving certificate is made at start and kept in memory, as the
// root filesystem is read-only: a certificate authority of its own signs
// a certificate for the Service in front of the API (svcNamespace,
// svcName). addCustomMetricsAPI returns that authority's certificate,
// which the APIService carries as its caBundle, so the API server
// verifies whom it talks to. Only the leader registers the APIService
// and serves the API, so the bundle always matches the server. Callers
// are authenticated and authorised by the API server, as an aggregated
// API's are: the front proxy's client certificate, TokenReviews and
// SubjectAccessReviews.
func addCustomMetricsAPI(mgr manager.Manager, p *controllers.CustomMetrics, port int, svcNamespace, svcName string) (caBundle []byte, err error) {
	klog.SetLogger(ctrl.Log.WithName("custom-metrics"))
	ab := &basecmd.AdapterBase{Name: "fleetwire-custom-metrics", FlagSet: pflag.NewFlagSet("custom-metrics", pflag.ContinueOnError)}
	ab.InstallFlags()
	ab.SecureServing.BindAddress = net.IPv4zero
	ab.SecureServing.BindPort = port
	ab.SecureServing.ServerCert.CertDirectory = "" // made below, in memory
	// Outside a cluster (tests, a laptop) the kubeconfig the manager uses
	// reaches the API server for listing pods and for delegated auth.
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		ab.RemoteKubeConfigFile = kc
		ab.Authentication.RemoteKubeConfigFile = kc
		ab.Authorization.RemoteKubeConfigFile = kc
	}
	ab.WithCustomMetrics(p)
	cert, key, caBundle, err := servingCertificate(svcNamespace, svcName)
	if err != nil {
		return nil, err
	}
	// Config makes a throwaway self-signed certificate for localhost, as
	// no certificate files are given; the Service's replaces it before
	// the server is built from the config.
	cfg, err := ab.Config()
	if err != nil {
		return nil, err
	}
	if cfg.GenericConfig.SecureServing.Cert, err = dynamiccertificates.NewStaticCertKeyContent("serving certificate for "+svcName+"."+svcNamespace+".svc", cert, key); err != nil {
		return nil, err
	}
	if _, err := ab.Server(); err != nil {
		return nil, err
	}
	return caBundle, mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return ab.Run(ctx) }))
}

// servingCertificate makes a certificate authority and a certificate it
// signs for the Service namespace/name, by every name the Service has in
// the cluster, and for localhost. It returns the certificate chain, the
// key, and the authority's certificate.
func servingCertificate(namespace, name string) (chain, key, ca []byte, err error) {
	svc := name + "." + namespace + ".svc"
	chain, key, err = certutil.GenerateSelfSignedCertKeyWithOptions(certutil.SelfSignedCertKeyOptions{
		Host:         svc,
		AlternateDNS: []string{name, name + "." + namespace, svc + ".cluster.local", "localhost"},
		AlternateIPs: []net.IP{net.ParseIP("127.0.0.1")},
		// It lives as long as the process: a restart makes a new one.
		MaxAge: 10 * 365 * 24 * time.Hour,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("making the serving certificate for %s: %w", svc, err)
	}
	// The chain is the serving certificate, then the authority's.
	certs, err := certutil.ParseCertsPEM(chain)
	if err != nil || len(certs) != 2 || !certs[1].IsCA {
		return nil, nil, nil, fmt.Errorf("the serving certificate for %s: want a certificate and its authority, got %d certificates (%v)", svc, len(certs), err)
	}
	ca, err = certutil.EncodeCertificates(certs[1])
	return chain, key, ca, err
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
