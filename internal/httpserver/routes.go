package httpserver

import (
	"net/http"
	"slices"
)

// routeMux is a ServeMux that remembers its patterns, so that a test can
// walk every route the server has: a route added later cannot be
// forgotten by the checks that must hold on all of them.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// Routes returns the patterns the server answers, as registered
// ("POST /api/v1/incidents", "/" for the not-found catch-all).
func (s *Server) Routes() []string { return slices.Clone(s.routes) }
