// Command demo runs the platform demo's steps (test/e2e/demo) against the parts
// deploy/demo/demo.sh started: demo -env $DEMO_DIR/env.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgemec/edgemec/test/e2e/demo"
)

func main() {
	envFile := flag.String("env", "/tmp/edgemec-demo/env", "the env file demo.sh up wrote")
	timeout := flag.Duration("timeout", 10*time.Minute, "time limit of the whole flow")
	flag.Parse()
	env, err := demo.LoadEnv(*envFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	if !run(env, *timeout) {
		os.Exit(1)
	}
}

// run runs the demo's flow until it ends, a signal or the timeout; false when it failed.
func run(env demo.Env, timeout time.Duration) bool {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := demo.Run(ctx, env, os.Stdout)
	return err == nil
}
