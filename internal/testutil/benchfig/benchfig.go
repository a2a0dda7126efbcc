// Package benchfig holds what the benchmark programs share: running the binaries they measure
// (StartServer, free ports) and reporting their figures:
// latency percentiles, a process's memory from /proc and the machine's load average (figures
// taken on a loaded machine are slower; the programs print it beside them).
package benchfig

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Percentile is the nearest-rank p-quantile of d, p in [0, 1] (0.99 is p99, 1 the maximum);
// 0 for no samples. d is not changed.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Memory is the resident (VmRSS) and peak resident (VmHWM) memory of process pid, in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS and VmHWM", pid)
	}
	return rss, peak, nil
}

// MB is bytes in mebibytes, for printing.
func MB(b int64) float64 { return float64(b) / (1 << 20) }

// LoadAvg is the machine's load average over the last minute, or "?".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Load sends GET u with the bearer token on conns connections back to back for d and returns
// each latency. A request that fails or answers other than 200 ends the run with its error.
func Load(u, token string, conns int, d time.Duration) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(end) {
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(all) == 0 {
		return nil, errors.New("no request completed")
	}
	return all, nil
}

// Observed is what a histogram of seconds holds for one label set: its count of
// observations and their mean.
type Observed struct {
	N    int64
	Mean time.Duration
}

// HistogramMeans reads a Prometheus text exposition and returns, for each label set of the
// histogram name (the text between its braces, e.g. `phase="VIM_RUNNING",task="INSTANTIATE"`),
// the count and mean of its observations in seconds.
func HistogramMeans(exposition, name string) map[string]Observed {
	sums, counts := map[string]float64{}, map[string]float64{}
	for line := range strings.Lines(exposition) {
		var into map[string]float64
		rest, ok := strings.CutPrefix(line, name+"_sum")
		if ok {
			into = sums
		} else if rest, ok = strings.CutPrefix(line, name+"_count"); ok {
			into = counts
		} else {
			continue
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 || (rest != "" && rest[0] != ' ') {
			continue // another metric whose name starts with this one's
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		into[labels] = v
	}
	out := map[string]Observed{}
	for labels, n := range counts {
		if n <= 0 {
			continue
		}
		out[labels] = Observed{N: int64(n), Mean: time.Duration(math.Round(sums[labels] / n * float64(time.Second)))}
	}
	return out
}
