// Package demo is the platform demo's flow (make demo, deploy/demo/demo.sh): an operator
// registers two edge sites with the MEO, onboards the sample app package and runs it through
// its life cycle with mecctl only, while the flow checks each step on the running parts — the
// container on the real node, its MEP, the site DNS, the UPGW's data plane on the N3 path, the
// MEO replicas. deploy/demo/demo.sh starts the parts and internal/tools/demo runs Run; the
// e2e test in this package runs the same flow and asserts on its Result.
package demo

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Site modes of site-1 (DEMO_SITE1_MODE).
const (
	// ModeRealNode is site-1 with the real node demo.sh started.
	ModeRealNode = "realnode"
	// ModeShared is site-1 on a real node started elsewhere (test/setup.d/22-realnode.sh).
	ModeShared = "shared"
	// ModeKwok is site-1 with kwok nodes only (no root): the flow plays the app's Mp1 part.
	ModeKwok = "kwok"
)

// Env is what demo.sh up wrote to $DEMO_DIR/env: where each part runs.
type Env struct {
	Dir, Prefix, Repo    string
	Mecctl, MecctlConfig string
	PGDSN                string
	MEO                  [2]string // the two MEO replicas' base URLs
	Site1Mode            string
	Site1Kubeconfig      string
	Site1MEP, Site1MP1   string // site-1's MEP as the host and as its apps reach it
	Site1DNS             string
	Site1Node            string // the real node's name
	Site1UPGW            string // the UPGW's control API (empty without root)
	Site2Kubeconfig      string
	Site2MEP, Site2DNS   string
	// NEF and NEFAdmin are the test NEF playing site-1's 5G core (its Nnef_TrafficInfluence
	// API and its admin endpoint), NEFClient the OAuth 2.0 client id of the MEO there (the
	// secret is in tokens/nef-client.token).
	NEF, NEFAdmin, NEFClient string
	// RootOnly names the parts left out for want of root (empty as root).
	RootOnly string
}

// RealApp reports whether site-1's apps really run (on a real node).
func (e Env) RealApp() bool { return e.Site1Mode == ModeRealNode || e.Site1Mode == ModeShared }

// LoadEnv reads the KEY=VALUE file demo.sh up wrote.
func LoadEnv(path string) (Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return Env{}, fmt.Errorf("read demo env: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return Env{}, fmt.Errorf("read demo env: %w", err)
	}
	e := Env{
		Dir: kv["DEMO_DIR"], Prefix: kv["DEMO_PREFIX"], Repo: kv["DEMO_REPO"],
		Mecctl: kv["DEMO_MECCTL"], MecctlConfig: kv["DEMO_MECCTL_CONFIG"], PGDSN: kv["DEMO_PG_DSN"],
		MEO:       [2]string{kv["DEMO_MEO_1"], kv["DEMO_MEO_2"]},
		Site1Mode: kv["DEMO_SITE1_MODE"], Site1Kubeconfig: kv["DEMO_SITE1_KUBECONFIG"],
		Site1MEP: kv["DEMO_SITE1_MEP"], Site1MP1: kv["DEMO_SITE1_MP1"], Site1DNS: kv["DEMO_SITE1_DNS"],
		Site1Node: kv["DEMO_SITE1_NODE"], Site1UPGW: kv["DEMO_SITE1_UPGW"],
		Site2Kubeconfig: kv["DEMO_SITE2_KUBECONFIG"], Site2MEP: kv["DEMO_SITE2_MEP"], Site2DNS: kv["DEMO_SITE2_DNS"],
		NEF: kv["DEMO_NEF"], NEFAdmin: kv["DEMO_NEF_ADMIN"], NEFClient: kv["DEMO_NEF_CLIENT"], RootOnly: kv["DEMO_ROOT_ONLY"],
	}
	for k, v := range map[string]string{"DEMO_DIR": e.Dir, "DEMO_MECCTL": e.Mecctl, "DEMO_MEO_1": e.MEO[0], "DEMO_MEO_2": e.MEO[1],
		"DEMO_SITE1_KUBECONFIG": e.Site1Kubeconfig, "DEMO_SITE2_KUBECONFIG": e.Site2Kubeconfig, "DEMO_NEF": e.NEF, "DEMO_NEF_ADMIN": e.NEFAdmin} {
		if v == "" {
			return Env{}, fmt.Errorf("demo env %s: %s is missing", path, k)
		}
	}
	return e, nil
}
