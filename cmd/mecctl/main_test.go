package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/mep"
)

const token = "operator-token-1"

func startMEP(t *testing.T) string {
	tel, err := obs.Setup(t.Context(), obs.Options{ServiceName: "mep", LogLevel: "error", Out: io.Discard})
	require.NoError(t, err)
	m, err := mep.New(t.Context(), mep.Config{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), OperatorToken: token}, tel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		r, err := http.Get(m.APIRoot() + "/readyz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)
	return m.APIRoot()
}

func ctl(t *testing.T, root string, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	err := mecctl(t.Context(), append([]string{"site", "--mep", root, "--token", token}, args...), strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestSiteCommands(t *testing.T) {
	root := startMEP(t)
	app := func(ip string) string {
		return `{"appName":"cache","appProvider":"acme","appDId":"d1",
		  "appDNSRule":[{"dnsRuleId":"r1","domainName":"cache.mec","ipAddressType":"IP_V4","ipAddress":"` + ip + `"}],
		  "appTrafficRule":[{"trafficRuleId":"t1","filterType":"FLOW","priority":3,"action":"DROP","trafficFilter":[{"protocol":["UDP"]}]}]}`
	}
	out, err := ctl(t, root, app("10.0.0.1"), "provision", "first", "-")
	require.NoError(t, err)
	require.Contains(t, out, `"clientSecret"`)
	time.Sleep(2 * time.Millisecond) // distinct creation times decide the conflict
	_, err = ctl(t, root, app("10.0.0.2"), "provision", "second", "-")
	require.NoError(t, err)

	out, err = ctl(t, root, "", "apps")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^APP INSTANCE\s+NAME\s+APPD\s+STATE`, lines[0])
	require.Regexp(t, `^first\s+cache\s+d1\s+INSTANTIATED\s+1\s+1\s`, lines[1])

	out, err = ctl(t, root, "", "conflicts")
	require.NoError(t, err)
	require.Regexp(t, `cache\.mec\s+first/r1\s+second/r1`, out, "the older rule must win")

	out, err = ctl(t, root, "", "rules", "traffic")
	require.NoError(t, err)
	require.Contains(t, out, "version 2")
	require.Regexp(t, `second\s+t1\s+3\s+DROP\s+ACTIVE`, out)

	out, err = ctl(t, root, "", "-o", "json", "rules", "dns")
	require.NoError(t, err)
	require.Contains(t, out, `"domainName": "cache.mec"`)

	out, err = ctl(t, root, "", "terminate", "second", "-timeout", "0")
	require.NoError(t, err)
	require.Equal(t, "termination of second started\n", out)

	_, err = ctl(t, root, "", "app", "second")
	require.ErrorContains(t, err, "404 Not Found: app instance \"second\" is not known")
	_, err = ctl(t, root, `{"appName":"x"}`, "provision", "bad", "-")
	require.ErrorContains(t, err, "400 Bad Request: request body: /appProvider is required")
	_, err = ctl(t, root, "", "frobnicate")
	require.ErrorContains(t, err, "unknown command")
}
