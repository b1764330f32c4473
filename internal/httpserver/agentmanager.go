package httpserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"
)

// The agent-manager surface: the few calls a stock enebular-agent makes
// of its agent manager, so that an unmodified agent whose registration
// names slokeeper (agentManagerBaseUrl = https://HOST + AgentManagerPrefix,
// authRequestUrl = that + /auth/request) ships its logs here. The agent
// sends the access token it was given as a bearer token on every call:
// here, that is a source's slk_… token.

// agentManagerBody bounds the JSON bodies of the agent-manager calls
// other than record-logs (device state, status, auth): small documents.
const agentManagerBody = 64 << 10

// agentAuthTTL is how long an agent's auth request waits for its tokens;
// the agent itself waits 10 s.
const agentAuthTTL = time.Minute

// maxAgentAuthPending bounds the auth requests remembered at once.
const maxAgentAuthPending = 10000

func (s *Server) agentManagerRoutes(mux *routeMux) {
	p := strings.TrimSuffix(s.AgentManagerPrefix, "/")
	s.agentAuth = &agentAuthRequests{clock: s.Clock, pending: map[string]agentAuthRequest{}}
	mux.HandleFunc("POST "+p+"/record-logs", s.withSource(s.handleAgentLogs))
	mux.HandleFunc("POST "+p+"/device/device-state/get", s.withSource(s.handleAgentStateGet))
	mux.HandleFunc("POST "+p+"/device/device-state/update", s.withSource(s.handleAgentStateUpdate))
	mux.HandleFunc("POST "+p+"/notify-status", s.withSource(s.handleAgentNotifyStatus))
	mux.HandleFunc("POST "+p+"/auth/request", s.handleAgentAuthRequest)
	mux.HandleFunc("POST "+p+"/auth/tokens", s.withSource(s.handleAgentAuthTokens))
}

// handleAgentLogs takes one enebular-agent log chunk: the multipart part
// "events" the agent's log transport uploads to record-logs (any other
// file part, for older senders), or the chunk as the body. Query
// parameters (is_device_master, …) are accepted and not needed. Good
// events are stored and bad ones listed, with a 200 either way, because
// the agent resends a refused chunk until it is accepted; a chunk sent
// again (the same good events) is recognised and not stored twice. Only
// a chunk that is not one (not a JSON array, not UTF-8, over its bounds)
// is refused whole.
func (s *Server) handleAgentLogs(w http.ResponseWriter, r *http.Request, src *slokeeper.Source) {
	const limit = ingest.MaxAgentChunkBytes + 64<<10 // room for multipart framing
	body := http.MaxBytesReader(w, r.Body, limit)
	raw, err := readChunk(r, body)
	if err != nil {
		Error(w, r, s.Logger, bodyError(err, limit))
		return
	}
	chunk, err := ingest.ParseAgentChunk(raw)
	if ingest.IsLimit(err) {
		Error(w, r, s.Logger, bodyError(err, limit))
		return
	}
	if err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "The log chunk was refused whole: %v.", err))
		return
	}
	rejected := chunk.Rejects
	if rejected == nil {
		rejected = []ingest.EventReject{}
	}
	if len(chunk.Records) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"accepted": 0, "duplicate": false, "rejected": rejected})
		return
	}
	if s.rateLimited(w, r, src, len(chunk.Records)) {
		return
	}
	sum := sha256.Sum256(append([]byte(src.ID+"\n"), chunk.Digest[:]...))
	dup, err := s.Logs.AppendLogs(r.Context(), src.Class(), fill(chunk.Records, src), hex.EncodeToString(sum[:]))
	if err != nil {
		storeError(w, r, s.Logger, err)
		return
	}
	accepted := len(chunk.Records)
	if dup {
		accepted = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": accepted, "duplicate": dup, "rejected": rejected})
}

// readChunk returns the chunk: the form's "events" part, else its first
// file or "file" part, or the whole body when it is not a form.
func readChunk(r *http.Request, body io.Reader) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return io.ReadAll(body)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "The form has no \"events\" part: %v.", err)
		}
		if part.FormName() == "events" || part.FormName() == "file" || part.FileName() != "" {
			return io.ReadAll(part)
		}
	}
}

// agentState is one state the agent asks for or updates.
type agentState struct {
	Type string `json:"type"`
}

// handleAgentStateGet answers the agent's device-state get as an agent
// manager does for a state that does not exist yet: each type asked for,
// with an empty state and no meta. slokeeper deploys nothing to agents.
func (s *Server) handleAgentStateGet(w http.ResponseWriter, r *http.Request, _ *slokeeper.Source) {
	var req struct {
		States []agentState `json:"states"`
	}
	if !s.readAgentJSON(w, r, &req) {
		return
	}
	states := make([]map[string]any, 0, len(req.States))
	for _, st := range req.States {
		states = append(states, map[string]any{"type": st.Type, "state": map[string]any{}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"states": states})
}

// handleAgentStateUpdate answers the agent's reported and status state
// updates as done, so that it does not retry them; slokeeper does not
// keep device state.
func (s *Server) handleAgentStateUpdate(w http.ResponseWriter, r *http.Request, _ *slokeeper.Source) {
	var req struct {
		Updates []json.RawMessage `json:"updates"`
	}
	if !s.readAgentJSON(w, r, &req) {
		return
	}
	updates := make([]map[string]any, len(req.Updates))
	for i := range updates {
		updates[i] = map[string]any{"success": true}
	}
	writeJSON(w, http.StatusOK, map[string]any{"updates": updates})
}

// handleAgentNotifyStatus takes the agent's periodic status notice.
func (s *Server) handleAgentNotifyStatus(w http.ResponseWriter, r *http.Request, _ *slokeeper.Source) {
	var req struct {
		Status string `json:"status"`
	}
	if !s.readAgentJSON(w, r, &req) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// readAgentJSON reads a small JSON body into v, answering the error
// itself when it cannot.
func (s *Server) readAgentJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := ingest.ReadAll(http.MaxBytesReader(w, r.Body, agentManagerBody), agentManagerBody)
	if err != nil {
		Error(w, r, s.Logger, bodyError(err, agentManagerBody))
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "The body is not the JSON expected: %v.", err))
		return false
	}
	return true
}

// agentAuthRequest is an agent's request for tokens, waiting for its
// connector to fetch them.
type agentAuthRequest struct {
	nonce, state string
	expires      time.Time
}

// agentAuthRequests remembers agents' auth requests, by
// "connectionId::deviceId", for agentAuthTTL.
type agentAuthRequests struct {
	clock   slokeeper.Clock
	mu      sync.Mutex
	pending map[string]agentAuthRequest
}

func (a *agentAuthRequests) put(device string, req agentAuthRequest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	if len(a.pending) >= maxAgentAuthPending {
		for k, p := range a.pending {
			if !now.Before(p.expires) {
				delete(a.pending, k)
			}
		}
		if len(a.pending) >= maxAgentAuthPending {
			clear(a.pending) // bound memory against a flood of device names
		}
	}
	req.expires = now.Add(agentAuthTTL)
	a.pending[device] = req
}

func (a *agentAuthRequests) take(device string) (agentAuthRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	req, ok := a.pending[device]
	delete(a.pending, device)
	return req, ok && a.clock.Now().Before(req.expires)
}

type agentDevice struct {
	ConnectionID string `json:"connectionId"`
	DeviceID     string `json:"deviceId"`
}

func (d agentDevice) key() string { return d.ConnectionID + "::" + d.DeviceID }

// handleAgentAuthRequest takes the agent's auth request (its
// authRequestUrl): the device, and the nonce and state its tokens must
// carry. The agent takes tokens only from its connector (an updateAuth
// message), never from this answer, so the request is kept for the
// connector to fetch (auth/tokens). It needs no credentials, as at an
// agent manager: it gives nothing away.
func (s *Server) handleAgentAuthRequest(w http.ResponseWriter, r *http.Request) {
	var req struct {
		agentDevice
		Nonce string `json:"nonce"`
		State string `json:"state"`
	}
	if !s.readAgentJSON(w, r, &req) {
		return
	}
	if req.ConnectionID == "" || req.DeviceID == "" || req.Nonce == "" || req.State == "" || len(req.key()) > 512 || len(req.Nonce)+len(req.State) > 512 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "An auth request needs connectionId, deviceId, nonce and state (at most 512 bytes each pair)."))
		return
	}
	s.agentAuth.put(req.key(), agentAuthRequest{nonce: req.Nonce, state: req.State})
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleAgentAuthTokens gives the agent's connector the updateAuth
// message that answers the device's pending auth request: the bearer
// token it was called with as the access token, and an ID token carrying
// the request's nonce, which is all the agent checks of it (it decodes,
// and does not verify, the ID token). The connector relays the message
// to the agent, which then sends that token on every call.
func (s *Server) handleAgentAuthTokens(w http.ResponseWriter, r *http.Request, src *slokeeper.Source) {
	var dev agentDevice
	if !s.readAgentJSON(w, r, &dev) {
		return
	}
	req, ok := s.agentAuth.take(dev.key())
	if !ok {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "Device %s has no auth request waiting (one waits %s).", dev.key(), agentAuthTTL))
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	now := s.Clock.Now()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"sub": dev.key(), "nonce": req.nonce, "iss": "slokeeper", "aud": src.ID, "iat": now.Unix(), "exp": now.Add(agentAuthTTL).Unix()})
	writeJSON(w, http.StatusOK, map[string]any{
		"idToken":     header + "." + base64.RawURLEncoding.EncodeToString(claims) + ".",
		"accessToken": token,
		"state":       req.state,
	})
}
