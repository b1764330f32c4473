package httpserver

import (
	"net/http"
	"strconv"

	"slokeeper"
)

// handleStatus serves the service's status as JSON: every public
// component's state and its daily uptime bars (?days=, 1 to 366, default 90).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if s.Monitor == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This server shows no status."))
		return
	}
	days := 90
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "days is 1 to 366, not %q.", v))
			return
		}
		days = n
	}
	v, err := s.Monitor.View(r.Context(), days, false)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=10")
	writeJSON(w, http.StatusOK, v)
}
