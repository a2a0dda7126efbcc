// Command mkimage packs static binaries into a single-layer container image and writes it as a
// docker-save tarball that `ctr images import` (containerd) loads, with no Docker engine and no
// registry. The image is reproducible: the same binaries give the same digests.
//
//	mkimage -ref local/mecapp:dev -out mecapp.tar -port 8080/tcp bin/mecapp [more binaries...]
//
// The first binary is the entrypoint. Every binary lands at /<basename> (mode 0755); the layer
// also holds /etc/passwd and /etc/group (root and nobody) and a world-writable /tmp.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	var (
		ref   = flag.String("ref", "", "image reference, e.g. local/mecapp:dev (required)")
		out   = flag.String("out", "", "output tarball (required)")
		arch  = flag.String("arch", "amd64", "image architecture")
		user  = flag.String("user", "", "user to run as, e.g. 65534 (default root)")
		ports portList
		envs  envList
	)
	flag.Var(&ports, "port", "exposed port, e.g. 8080/tcp (repeatable)")
	flag.Var(&envs, "env", "environment variable K=V (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkimage -ref REF -out FILE [flags] BINARY...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *ref == "" || *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	img := Image{Ref: *ref, Arch: *arch, User: *user, Ports: ports, Env: envs, Binaries: flag.Args()}
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	if err := img.Write(f); err != nil {
		f.Close()
		os.Remove(*out)
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}

type portList []string

func (p *portList) String() string { return strings.Join(*p, ",") }
func (p *portList) Set(v string) error {
	if !strings.Contains(v, "/") {
		v += "/tcp"
	}
	*p = append(*p, v)
	return nil
}

type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not K=V", v)
	}
	*e = append(*e, v)
	return nil
}
