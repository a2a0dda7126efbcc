package apppkg

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Rendering a chart runs its templates, which are programs: `range until 100000000`, a
// `repeat` of a gigabyte, loops nested in loops. The render budget bounds what one chart
// may cost, so that the package is refused with a clear reason and the MEO stays responsive:
//
//  1. the list builders (until, untilStep, seq) share one budget of Limits.MaxRenderItems
//     elements per render, checked before a list is built, so loops over them (nested or
//     not) end early;
//  2. repeat is checked before it allocates: its result counts toward MaxArtifactSize;
//  3. each of these functions fails once Limits.RenderTimeout has passed, which ends the
//     loops that call them;
//  4. the render runs beside the caller, which stops waiting at RenderTimeout. A template
//     that loops without calling any function (over values it was given, which the chart's
//     size bounds) cannot be interrupted in Go; at most one such render is left to finish
//     in the background, and while one is, other charts are refused as busy rather than
//     piled up.
//
// The rendered output is then checked against MaxArtifactSize as before.

// errRenderBudget marks a render stopped by its budget.
var errRenderBudget = errors.New("over the render budget")

// renderBudget is the budget of one render.
type renderBudget struct {
	deadline time.Time
	timeout  time.Duration
	items    int64 // left for until, untilStep, seq
	maxItems int64
	maxBytes int64
	mu       sync.Mutex
	tripped  error // the first budget error, kept because Helm rewrites template errors
}

// trip records and returns a budget error.
func (b *renderBudget) trip(format string, args ...any) error {
	err := fmt.Errorf("%w: "+format, append([]any{errRenderBudget}, args...)...)
	b.mu.Lock()
	if b.tripped == nil {
		b.tripped = err
	}
	b.mu.Unlock()
	return err
}

// err is the first budget error of the render, if any.
func (b *renderBudget) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tripped
}

func (b *renderBudget) checkTime() error {
	if time.Now().After(b.deadline) {
		return b.trip("rendering took longer than %v", b.timeout)
	}
	return nil
}

// take charges n list elements built by fn.
func (b *renderBudget) take(fn string, n int64) error {
	if err := b.checkTime(); err != nil {
		return err
	}
	b.mu.Lock()
	ok := n >= 0 && n <= b.items
	if ok {
		b.items -= n
	}
	b.mu.Unlock()
	if !ok {
		return b.trip("%s builds %d elements; the chart may build at most %d in all", fn, n, b.maxItems)
	}
	return nil
}

// count is the number of elements untilStep(start, stop, step) builds, as sprig does.
func count(start, stop, step int) int64 {
	switch {
	case step == 0:
		return 0
	case step > 0 && start < stop:
		return (int64(stop) - int64(start) + int64(step) - 1) / int64(step)
	case step < 0 && start > stop:
		return (int64(start) - int64(stop) - int64(step) - 1) / -int64(step)
	}
	return 0
}

// funcs returns the template functions that replace Helm's (sprig's) list and string
// builders with budgeted ones of the same meaning.
func (b *renderBudget) funcs() template.FuncMap {
	build := func(fn string, start, stop, step int) ([]int, error) {
		n := count(start, stop, step)
		if err := b.take(fn, n); err != nil {
			return nil, err
		}
		out := make([]int, 0, n)
		for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
			out = append(out, i)
		}
		return out, nil
	}
	untilStep := func(start, stop, step int) ([]int, error) { return build("untilStep", start, stop, step) }
	return template.FuncMap{
		"until": func(n int) ([]int, error) {
			if n < 0 {
				return build("until", 0, n, -1)
			}
			return build("until", 0, n, 1)
		},
		"untilStep": untilStep,
		"seq": func(params ...int) (string, error) { // sprig's seq, budgeted
			var start, stop, step int
			switch len(params) {
			case 1:
				start, stop, step = 1, params[0], 1
				if stop < start {
					step = -1
				}
				stop += step
			case 2:
				start, stop, step = params[0], params[1], 1
				if stop < start {
					step = -1
				}
				stop += step
			case 3:
				inc := 1
				start, step, stop = params[0], params[1], params[2]
				if stop < start {
					inc = -1
					if step > 0 {
						return "", nil
					}
				}
				stop += inc
			default:
				return "", nil
			}
			ns, err := build("seq", start, stop, step)
			if err != nil {
				return "", err
			}
			parts := make([]string, len(ns))
			for i, n := range ns {
				parts[i] = strconv.Itoa(n)
			}
			return strings.Join(parts, " "), nil
		},
		"repeat": func(n int, s string) (string, error) {
			if err := b.checkTime(); err != nil {
				return "", err
			}
			if n < 0 || (len(s) > 0 && int64(n) > b.maxBytes/int64(len(s))) {
				return "", b.trip("repeat makes %s bytes; a chart renders to at most %d", bytesOf(n, len(s)), b.maxBytes)
			}
			return strings.Repeat(s, n), nil
		},
	}
}

func bytesOf(n, l int) string {
	if n < 0 {
		return fmt.Sprint(n)
	}
	if l > 0 && n > math.MaxInt64/l {
		return "more than 2^63"
	}
	return fmt.Sprint(int64(n) * int64(l))
}

// strayRenders counts renders still running past their deadline (see above).
var strayRenders struct {
	sync.Mutex
	n int
}

// maxStrayRenders is how many overrunning renders may run on in the background.
const maxStrayRenders = 1

// withinBudget runs render with the budget's time limit. It returns render's result, or an
// error once the time is up (the render then finishes in the background).
func withinBudget[T any](b *renderBudget, render func() (T, error)) (T, error) {
	var zero T
	strayRenders.Lock()
	busy := strayRenders.n >= maxStrayRenders
	strayRenders.Unlock()
	if busy {
		return zero, b.trip("a chart that overran its render budget is still being rendered; try again later")
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := render()
		done <- result{v, err}
	}()
	t := time.NewTimer(time.Until(b.deadline))
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			if berr := b.err(); berr != nil {
				return r.v, berr
			}
		}
		return r.v, r.err
	case <-t.C:
	}
	strayRenders.Lock()
	strayRenders.n++
	strayRenders.Unlock()
	go func() {
		<-done
		strayRenders.Lock()
		strayRenders.n--
		strayRenders.Unlock()
	}()
	return zero, b.trip("rendering took longer than %v", b.timeout)
}
