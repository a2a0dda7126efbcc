// Command nef runs the test NEF of package test/nef as a program, for demos of the
// orchestrator's traffic influence against a NEF outside a Go test.
//
//	go run ./test/nef/cmd/nef --addr 127.0.0.1:8095 --client-id meo --client-secret s3cret
//
// The Nnef_TrafficInfluence API and /oauth2/token are served on --addr; the admin endpoint
// that triggers UP path change notifications (nef.AdminHandler) on --admin-addr, which
// should stay on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/test/nef"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nef:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8095", "listen address of the NEF API")
	adminAddr := flag.String("admin-addr", "127.0.0.1:8096", "listen address of the admin endpoint (empty: off)")
	token := flag.String("token", os.Getenv("NEF_TOKEN"), "static bearer token accepted (env NEF_TOKEN)")
	clientID := flag.String("client-id", "", "OAuth 2.0 client id allowed to get tokens")
	clientSecret := flag.String("client-secret", os.Getenv("NEF_CLIENT_SECRET"), "its secret (env NEF_CLIENT_SECRET)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := nef.Config{StaticToken: *token, Logger: log}
	if *clientID != "" {
		if *clientSecret == "" {
			return errors.New("--client-id needs --client-secret")
		}
		cfg.Clients = map[string]string{*clientID: *clientSecret}
	}
	if cfg.StaticToken == "" && cfg.Clients == nil {
		log.Warn("no credentials configured: the API is open")
	}
	srv := nef.New(cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	servers := []*http.Server{{Addr: *addr, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	if *adminAddr != "" {
		servers = append(servers, &http.Server{Addr: *adminAddr, Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, hs := range servers {
		log.Info("serving", logkeys.Addr, hs.Addr)
		go func() { errc <- hs.ListenAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
