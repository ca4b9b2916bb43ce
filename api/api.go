// Package api serves vAdvisor's REST API: stats history, domain specs and
// lifecycle events.
package api

import (
	"encoding/json"
	"net/http"
)

// writeError answers with a JSON error body, the form every API error takes.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
