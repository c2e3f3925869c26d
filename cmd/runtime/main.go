// Command fleetwire-runtime is the Fleetwire WebSocket runtime.
//
//	fleetwire-runtime [flags]          run the runtime
//	fleetwire-runtime token [flags]    print a signed token for development
//	fleetwire-runtime version          print the version, commit, build date and Go version (also --version)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/term"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/buildinfo"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/logging"
	"github.com/fleetwire/fleetwire/runtime/server"
)

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode reports err and returns the process's exit code: 0 when it
// ran to the end or only showed its help (asked for with --help), 2 on
// an error.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "fleetwire-runtime: %v\n", err)
		return 2
	}
}

// commandsHelp ends --help: the commands besides running the runtime.
const commandsHelp = `
Commands:
  fleetwire-runtime [flags]           run the runtime (the flags above)
  fleetwire-runtime token [flags]     print a signed token for development (token --help lists its flags)
  fleetwire-runtime version           print the version, commit, build date and Go version (also --version)

Every flag has an environment variable and a config file key: docs/configuration.md.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], stdout, stderr)
		case "version", "--version", "-version":
			_, err := fmt.Fprintln(stdout, "fleetwire-runtime", buildinfo.Get())
			return err
		}
	}
	return serve(args, stderr)
}

func serve(args []string, stderr io.Writer) error {
	cfg, err := config.Load(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, commandsHelp)
	}
	if err != nil {
		return err
	}
	log, sync, err := logging.New(cfg.Log.Level, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = sync() }()

	opts := server.Options{Logger: log, Version: buildinfo.Version}
	if cfg.DevMode() {
		secret, where, err := devSecret()
		if err != nil {
			return err
		}
		opts.DevSecret = secret
		token, err := auth.SignHS256(secret, auth.TokenRequest{UserID: "dev-admin", Roles: []string{auth.RoleAdmin, auth.RoleService}, TTL: devAdminTTL})
		if err != nil {
			return err
		}
		log.Info("DEV MODE: no JWT_SECRET or public key is set; tokens are signed with a development secret. Never run like this in production.",
			"devSecretFile", where)
		// The banner holds a token: it goes to a person at a terminal,
		// never into a log stream, which stays pure JSON.
		if isTerminal(stderr) {
			printDevBanner(stderr, token, cfg.Port)
		} else {
			log.Info("the dev admin token is printed only to a terminal; sign one with: fleetwire-runtime token --user dev-admin --roles admin,service")
		}
	}

	srv, err := server.New(cfg, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("host and port (HOST, PORT): %w", err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var sig os.Signal
	select {
	case err := <-errc:
		return err
	case sig = <-sigs:
	}
	if err := stopOnSignal(srv, cfg, sig, sigs, log); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

// stopOnSignal drains on SIGTERM (the orchestrator's stop) and shuts down
// at once on SIGINT (a person's Ctrl-C). A second signal during a drain
// cuts it short.
func stopOnSignal(srv *server.Server, cfg *config.Config, sig os.Signal, more <-chan os.Signal, log logr.Logger) error {
	budget := cfg.Drain.ExitBudget()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	go func() {
		select {
		case s := <-more:
			log.Info("second signal; cutting the drain short", "signal", s.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	var err error
	if sig == syscall.SIGTERM {
		log.Info("SIGTERM received; draining", "exitBudget", budget.String())
		err = srv.Drain(ctx)
	} else {
		log.Info("signal received; shutting down", "signal", sig.String())
		err = srv.Shutdown(ctx)
	}
	if err != nil {
		log.Error(err, "shutdown was not clean")
	}
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func printDevBanner(w io.Writer, token string, port int) {
	fmt.Fprintf(w, `
  ================================================================
  DEV MODE - tokens are signed with a local development secret.
  Set JWT_SECRET (or use --production) for anything but local work.

  Admin token (roles admin,service; valid %s):

  %s

  Try:  curl -H "Authorization: Bearer <token>" http://localhost:%d/ws/status/alice
  ================================================================

`, devAdminTTL, token, port)
}
