// Command vimctl drives one Kubernetes site through the Kubernetes VIM adapter, doing by hand
// what the orchestrator does for an app instance: the demo uses it to run the sample app on the
// test bed's real node.
//
//	vimctl -kubeconfig KC deploy -id ID -manifests FILE -image IMG -mep URL -client-id ID   (secret in $MEC_CLIENT_SECRET)
//	vimctl -kubeconfig KC status|stop|start|terminate -id ID
//
// deploy, start and terminate wait (up to -wait) for Running or for the instance to be gone, and
// every command prints the instance's status as JSON.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vimctl:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	g := flag.NewFlagSet("vimctl", flag.ContinueOnError)
	kc := g.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the site")
	if err := g.Parse(args); err != nil {
		return err
	}
	if g.NArg() == 0 {
		return errors.New("usage: vimctl -kubeconfig KC deploy|status|stop|start|terminate -id ID [flags]")
	}
	cmd := g.Arg(0)
	f := flag.NewFlagSet(cmd, flag.ContinueOnError)
	id := f.String("id", "", "app instance id (required)")
	wait := f.Duration("wait", 2*time.Minute, "how long to wait for Running or for removal")
	manifests := f.String("manifests", "", "deploy: manifests file; IMAGE in it is replaced by -image")
	image := f.String("image", "", "deploy: image reference")
	appd := f.String("appd", "appd-"+cmd, "deploy: AppD id")
	mep := f.String("mep", "", "deploy: Mp1 base URL as the app reaches it")
	clientID := f.String("client-id", "", "deploy: the app's Mp1 client id (secret from $MEC_CLIENT_SECRET)")
	if err := f.Parse(g.Args()[1:]); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("-id is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kc)
	if err != nil {
		return err
	}
	c, err := kubernetes.NewClients(cfg)
	if err != nil {
		return err
	}
	a, err := kubernetes.New(kubernetes.Config{Site: "site", Clients: kubernetes.Static(c),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait+30*time.Second)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, *wait)
	defer wcancel()

	// Each command acts (or not), then waits for the state it leads to and prints it.
	running := func() (vim.Status, error) { return vim.WaitRunning(wctx, a, *id) }
	var (
		act  func() error
		then = running
	)
	switch cmd {
	case "deploy":
		act = func() error {
			b, err := os.ReadFile(*manifests)
			if err != nil {
				return err
			}
			return a.Deploy(ctx, vim.DeployRequest{
				AppInstanceID: *id, AppDID: *appd, AppName: *id,
				Compute:   vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64},
				Artifacts: vim.Artifacts{Manifests: bytes.ReplaceAll(b, []byte("IMAGE"), []byte(*image))},
				MEP:       vim.MEPAccess{Endpoint: *mep, ClientID: *clientID, ClientSecret: os.Getenv("MEC_CLIENT_SECRET")},
			})
		}
	case "start":
		act = func() error { return a.Start(ctx, *id) }
	case "stop":
		act = func() error { return a.Stop(ctx, *id) }
		then = func() (vim.Status, error) {
			return vim.WaitPhase(wctx, a, *id, 200*time.Millisecond, vim.PhaseStopped)
		}
	case "status":
		act = func() error { return nil }
		then = func() (vim.Status, error) { return a.Status(ctx, *id) }
	case "terminate":
		if err := a.Terminate(ctx, *id); err != nil {
			return err
		}
		for {
			_, err := a.Status(wctx, *id)
			if errors.Is(err, vim.ErrNotFound) {
				fmt.Fprintf(out, "{\"appInstanceId\":%q,\"phase\":\"Gone\"}\n", *id)
				return nil
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("instance %s not gone after %v", *id, *wait)
			case <-time.After(300 * time.Millisecond):
			}
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := act(); err != nil {
		return err
	}
	st, err := then()
	if err != nil {
		return err
	}
	return printStatus(out, st)
}

func printStatus(w io.Writer, st vim.Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
