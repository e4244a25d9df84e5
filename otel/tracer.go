package otel

import (
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// spanSource starts spans, skipping the work when no span can come of it.
//
// Until a program calls otel.SetTracerProvider, the global provider hands out tracers
// whose spans record nothing and only carry the parent's span context along; starting
// one costs two allocations per call for nothing, since the context already carries
// that parent. So while the global provider is still that default one, no span is
// started. Tracers taken from it before SetTracerProvider forward to the installed
// provider afterwards, which is why the check is made per call (one atomic load).
type spanSource struct {
	tracer    trace.Tracer
	tp        trace.TracerProvider
	noop      bool // an explicit no-op provider: never start spans
	globalDef bool // tp is the global default provider: start spans only once it is replaced
}

func newSpanSource(tp trace.TracerProvider) spanSource {
	s := spanSource{tracer: tp.Tracer(scopeName), tp: tp}
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		s.noop = true
	}
	s.globalDef = tp == defaultGlobal
	return s
}

// defaultGlobal is the global provider as it stands when this package is initialized:
// the API's default, since programs install theirs from main or from packages that
// import this one (a package initialized earlier that installs a provider in its init
// would make spans start only once a provider is installed again). Comparing
// identities needs no knowledge of the API's internal types.
var defaultGlobal = gotel.GetTracerProvider()

// active reports whether a span started now could record or propagate anything.
func (s *spanSource) active() bool {
	if s.noop {
		return false
	}
	return !s.globalDef || gotel.GetTracerProvider() != s.tp
}
