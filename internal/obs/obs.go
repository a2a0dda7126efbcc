// Package obs sets up the process-wide observability plumbing: slog logging, OpenTelemetry
// tracing (OTLP export off unless an endpoint is configured) and a Prometheus registry.
package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures Setup. The zero value logs text at info level and exports no traces.
type Options struct {
	// ServiceName is the OTel service.name and the "component" of every log line.
	ServiceName string
	// InstanceID is the OTel service.instance.id (for example the site name); optional.
	InstanceID string
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
	// LogFormat is text or json (default text).
	LogFormat string
	// OTLPEndpoint is the OTLP/HTTP collector endpoint (host:port). Empty disables export.
	OTLPEndpoint string
	// SampleRatio is the parent-based trace sampling ratio in [0,1] (default 1 when exporting).
	SampleRatio float64
	// Out is where logs go (default os.Stderr).
	Out io.Writer
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if _, err := ParseLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	switch o.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want text or json", o.LogFormat))
	}
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("trace sample ratio %v: want a value in [0,1]", o.SampleRatio))
	}
	return errors.Join(errs...)
}

// ParseLevel maps a level name to a slog.Level; the empty string is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

// Telemetry is what Setup returns: the root logger, a tracer provider, the Prometheus
// registry and a shutdown hook that flushes exporters.
type Telemetry struct {
	Logger   *slog.Logger
	Tracer   trace.TracerProvider
	Registry *prometheus.Registry
	shutdown func(context.Context) error
}

// Shutdown flushes and stops the trace exporter. It is safe to call on a nil Telemetry.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Tracing reports whether traces are exported; instrumentation that only feeds traces can
// stay out of hot paths otherwise.
func (t *Telemetry) Tracing() bool { return t != nil && t.shutdown != nil }

// MetricsHandler serves the registry in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Setup builds the logger, tracer provider and metrics registry described by o. It installs
// the tracer provider and W3C propagators globally, as OTel instrumentation libraries expect.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	out := o.Out
	if out == nil {
		out = os.Stderr
	}
	lvl, _ := ParseLevel(o.LogLevel)
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(out, hopts)
	if o.LogFormat == "json" {
		h = slog.NewJSONHandler(out, hopts)
	}
	logger := slog.New(h).With("component", o.ServiceName)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	t := &Telemetry{Logger: logger, Registry: reg, Tracer: noop.NewTracerProvider()}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if o.OTLPEndpoint == "" {
		return t, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(o.OTLPEndpoint), otlptracehttp.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(o.ServiceName), semconv.ServiceInstanceID(o.InstanceID)))
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	ratio := o.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	otel.SetTracerProvider(tp)
	t.Tracer = tp
	t.shutdown = tp.Shutdown
	return t, nil
}
