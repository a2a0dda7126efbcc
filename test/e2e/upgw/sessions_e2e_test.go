//go:build e2e

package upgwe2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// evictionUEs is how many UEs the eviction test makes the gateway learn: more than the
// sessions map holds (evictionCapacity), as on a site serving more UEs than it was sized for.
const (
	evictionUEs      = 100_000
	evictionCapacity = 65_536
)

// evictionUE returns the i-th UE address of the eviction test, in 10.64.0.0/14.
func evictionUE(i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 10<<24|64<<16+uint32(i))
	return netip.AddrFrom4(b)
}

// TestSessionEviction100k: 100,000 UEs send downlink traffic through a gateway whose sessions
// map holds 65,536. The map keeps the most recent UEs and evicts the oldest; the agent counts
// every eviction (status, /metrics) and logs them, `upgw_sessions` says how many UEs are
// served, and the evicted UEs' replies are lost (dl_miss) while the recent ones' go on.
func TestSessionEviction100k(t *testing.T) {
	tp := newTopoNamed(t, "upgwev", "native", "--max-sessions", strconv.Itoa(evictionCapacity))
	nsExec(t, tp.app, "ip", "route", "add", "10.64.0.0/14", "via", "192.0.2.1")
	startApp(t, tp, true)
	tp.putRules(t, 1, ruleJSON("tr1", 1, "FORWARD_DECAPSULATED", `{"dstAddress":["192.0.2.10"],"dstPort":["8080"],"protocol":["UDP"]}`))

	// Downlink packets of every UE, oldest first, paced so that the veth queues keep up.
	upfSock := openRaw(t, tp.upf, "u0")
	teid := func(i int) uint32 { return 0x10000 + uint32(i) }
	for i := range evictionUEs {
		inner := udpPacket(t, farIP, evictionUE(i), 443, 40000, []byte("dl"))
		upfSock.send(t, n3(t, tp.upfMAC, tp.gnbMAC, upfIP, gnbIP, gtpu(0xff, teid(i), 0, 9, len(inner)), inner))
		if i%256 == 255 {
			time.Sleep(time.Millisecond)
		}
	}
	paths := func() map[string]int64 {
		r, err := tp.api.GetPathCountersWithResponse(t.Context())
		if err != nil || r.JSON200 == nil {
			t.Fatalf("path counters: %v", err)
		}
		m := map[string]int64{}
		for _, c := range *r.JSON200 {
			m[c.Path] = c.Packets
		}
		return m
	}
	created := paths()["dl_new"]
	if created < evictionUEs*99/100 {
		t.Fatalf("the data plane created %d sessions for %d UEs; want (almost) all: the sender outran the veth queues", created, evictionUEs)
	}

	// The agent counts in the background: wait for a count that saw every created session.
	var st *upgwapi.Status
	waitUntilFor(t, "the session count after the flood", 15*time.Second, func() bool {
		r, err := tp.api.GetStatusWithResponse(t.Context())
		if err != nil || r.JSON200 == nil {
			return false
		}
		st = r.JSON200
		return st.SessionsEvicted > 0 && int64(st.Sessions)+st.SessionsEvicted == created
	})
	t.Logf("%d UEs, %d sessions created: %d held of %d, %d evicted", evictionUEs, created, st.Sessions, st.SessionCapacity, st.SessionsEvicted)
	if st.SessionCapacity != evictionCapacity {
		t.Errorf("session capacity %d; want %d (--max-sessions)", st.SessionCapacity, evictionCapacity)
	}
	// The kernel's LRU may evict a little before the map is full (free entries are handed
	// to each CPU in batches), never more than it holds.
	if st.Sessions > evictionCapacity || st.Sessions < evictionCapacity*9/10 {
		t.Errorf("%d sessions held; want about the capacity %d", st.Sessions, evictionCapacity)
	}

	// /metrics says the same.
	metrics := scrape(t, tp)
	for name, want := range map[string]int64{
		"upgw_sessions":                int64(st.Sessions),
		"upgw_session_capacity":        evictionCapacity,
		"upgw_session_evictions_total": st.SessionsEvicted,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("metric %s = %d (present %v); want %d", name, got, ok, want)
		}
	}
	// And the log says it happened.
	if b, err := os.ReadFile(tp.logPath); err != nil || !strings.Contains(string(b), "sessions evicted") {
		t.Errorf("the agent's log does not mention the evictions (%v)", err)
	}

	// The oldest UE was evicted: its reply has no tunnel and does not reach the gNB. The
	// newest was not: its reply is encapsulated in its own tunnel.
	gnbSock := openRaw(t, tp.gnb, "g0")
	ul := func(ue netip.Addr, payload string) []byte {
		inner := udpPacket(t, ue, appIP, 40000, 8080, []byte(payload))
		return n3(t, tp.gnbMAC, tp.upfMAC, gnbIP, upfIP, gtpu(0xff, ulTEID, 1, 9, len(inner)), inner)
	}
	miss0 := paths()["dl_miss"]
	gnbSock.send(t, ul(evictionUE(0), "oldest"))
	if f := gnbSock.recv(time.Second, isGTPU); f != nil {
		t.Errorf("a reply to the evicted UE %s reached the gNB: %x", evictionUE(0), f)
	}
	if miss := paths()["dl_miss"]; miss <= miss0 {
		t.Errorf("dl_miss %d after the evicted UE's reply; want more than %d", miss, miss0)
	}
	last := evictionUE(evictionUEs - 1)
	gnbSock.send(t, ul(last, "newest"))
	f := gnbSock.recv(5*time.Second, isGTPU)
	if f == nil {
		t.Fatalf("no reply to the newest UE %s at the gNB", last)
	}
	if got := binary.BigEndian.Uint32(f[14+20+8+4:]); got != teid(evictionUEs-1) {
		t.Errorf("reply to the newest UE in TEID %#x; want its own %#x", got, teid(evictionUEs-1))
	}
}

// waitUntilFor is waitUntil with a deadline of d.
func waitUntilFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape reads the agent's /metrics: the value of every sample without labels.
func scrape(t *testing.T, tp *topo) map[string]int64 {
	t.Helper()
	resp, err := tp.http.Get(tp.apiBase + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = int64(f)
		}
	}
	return m
}
