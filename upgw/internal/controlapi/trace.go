package controlapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/upgw/internal/trace"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// Trace implements upgwapi.StrictServerInterface: it starts the trace (400, 409 and 403
// come before the stream) and returns the stream, which runs the trace as it is written.
func (s *Server) Trace(ctx context.Context, req upgwapi.TraceRequestObject) (upgwapi.TraceResponseObject, error) {
	if s.token == "" {
		return nil, problem.Forbidden("the packet trace needs the control API token (upgw --api-token): it shows subscriber traffic")
	}
	if s.tracer == nil {
		return nil, problem.New(http.StatusServiceUnavailable, "the packet trace is not available")
	}
	p := req.Params
	r := trace.Request{RuleID: deref(p.Rule), AppInstanceID: deref(p.App), UE: deref(p.Ue), Rate: derefInt(p.Rate),
		Sample: derefInt(p.Sample), Snaplen: derefInt(p.Snaplen), Duration: time.Duration(derefInt(p.Duration)) * time.Second}
	if p.Teid != nil {
		// The spec bounds it to 0..2^32-1, and the validator has checked.
		teid := uint32(*p.Teid) //nolint:gosec // bounded by the spec
		r.TEID = &teid
	}
	if p.Path != nil {
		r.Paths = *p.Path
	}
	sess, err := s.tracer.Start(r)
	if err != nil {
		return nil, err
	}
	return traceStream{ctx: ctx, s: sess}, nil
}

// traceStream writes a running trace as JSON lines, each flushed as it is written.
type traceStream struct {
	ctx context.Context //nolint:containedctx // the request's, for the stream the handler returns
	s   *trace.Session
}

func (ts traceStream) VisitTraceResponse(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		ts.s.Close()
		return err
	}
	enc := json.NewEncoder(w)
	end := ts.s.Run(ts.ctx, func(ev trace.Event) error {
		if err := enc.Encode(upgwapi.TraceLine{Event: eventView(ev)}); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err := enc.Encode(upgwapi.TraceLine{End: &upgwapi.TraceEnd{Reason: upgwapi.TraceEndReason(end.Reason),
		Events: int64(end.Events), Capped: int64(end.Capped), Lost: int64(end.Lost)}}); err != nil { //nolint:gosec // counts stay far below 2^63
		return nil // the client is gone: nothing to tell it
	}
	_ = rc.Flush()
	return nil
}

func eventView(ev trace.Event) *upgwapi.TraceEvent {
	v := &upgwapi.TraceEvent{Time: ev.Time.UTC(), Path: ev.Path, Program: upgwapi.TraceEventProgram(ev.Program),
		Ifindex: ev.Ifindex, Length: ev.Length, Captured: len(ev.Data), Data: ev.Data,
		Outer: flowView(ev.Outer), Inner: flowView(ev.Inner)}
	if ev.AppInstanceID != "" {
		v.AppInstanceId, v.TrafficRuleId = &ev.AppInstanceID, &ev.TrafficRuleID
	}
	if ev.TEID != nil {
		teid := int64(*ev.TEID)
		v.Teid = &teid
	}
	if ev.QFI != nil {
		q := int(*ev.QFI)
		v.Qfi = &q
	}
	if ev.Error != "" {
		v.Error = &ev.Error
	}
	if g := ev.GTP; g != nil {
		v.Gtp = &upgwapi.TraceGTP{MessageType: int(g.MessageType), Teid: int64(g.TEID), Sequence: intPtr(g.Sequence),
			Qfi: intPtr(g.QFI), PduType: intPtr(g.PDUType), ExtensionHeaders: make([]int, len(g.Extensions))}
		for i, x := range g.Extensions {
			v.Gtp.ExtensionHeaders[i] = int(x)
		}
	}
	return v
}

func flowView(f *trace.Flow) *upgwapi.TraceFlow {
	if f == nil {
		return nil
	}
	v := &upgwapi.TraceFlow{Src: f.Src.String(), Dst: f.Dst.String(), Protocol: f.Protocol, SrcPort: intPtr(f.SrcPort),
		DstPort: intPtr(f.DstPort), IcmpType: intPtr(f.ICMPType), IcmpCode: intPtr(f.ICMPCode)}
	tos := int(f.TOS)
	v.Tos = &tos
	return v
}

func intPtr[T uint8 | uint16](p *T) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
