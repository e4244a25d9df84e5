package realbills

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server answers every request with one record's response, on a loopback address.
// It is safe for concurrent use.
type Server struct {
	// URL is the server's base URL (no trailing slash).
	URL string

	ts  *httptest.Server
	rec *Record

	mu   sync.Mutex
	reqs []Received
}

// Received is one request the server got.
type Received struct {
	Method, Path, RawQuery string
	Body                   []byte
}

// NewServer starts a Server for rec; Close it when done.
//
// A request asking for a stream (a "stream": true body, or Gemini's
// :streamGenerateContent) gets the recorded event stream, and one asking for a JSON
// body gets the recorded body, with status 200. For Gemini the stream is re-framed
// from the recorded server-sent events into the JSON array the genai SDK's REST
// transport reads ($alt=json), unless the request asked for alt=sse; and since that
// SDK asks for a stream on every call, a Gemini record that was not streamed is served
// to a stream request as a stream of its one body. Otherwise a request whose
// kind does not match the record's (a stream asked of a record that was not
// streamed, or the reverse) gets a 400 saying so, in the provider's error shape, so
// that a wrong replay fails loudly instead of passing on a response nobody billed.
func NewServer(rec *Record) *Server {
	s := &Server{rec: rec}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	return s
}

// Serve is NewServer, closed when t's test ends.
func Serve(t testing.TB, rec *Record) *Server {
	s := NewServer(rec)
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down, waiting for the requests in flight.
func (s *Server) Close() { s.ts.Close() }

// HTTPClient returns a client for s (the loopback transport of net/http/httptest).
func (s *Server) HTTPClient() *http.Client { return s.ts.Client() }

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.reqs...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, Received{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: body})
	s.mu.Unlock()

	rec := s.rec
	wantStream := strings.HasSuffix(r.URL.Path, ":streamGenerateContent")
	if rec.Provider != Gemini {
		var in struct {
			Stream bool `json:"stream"`
		}
		_ = json.Unmarshal(body, &in) // a body that is not JSON asks for no stream
		wantStream = in.Stream
	}
	if rec.Provider == Gemini && wantStream && !rec.Stream {
		// The genai SDK under googleai streams every call, streamed or not
		// (GenerativeModel.generateContent reads StreamGenerateContent): a record
		// answered in one body is served as a stream of that one chunk.
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(append([]byte("["), rec.Response...), ']'))
		return
	}
	if wantStream != rec.Stream {
		s.fail(w, fmt.Sprintf("realbills: record %s was recorded with stream=%v, the client asked for stream=%v", rec.ID, rec.Stream, wantStream))
		return
	}
	if !rec.Stream {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rec.Response)
		return
	}
	if rec.Provider == Gemini && !strings.Contains(r.URL.RawQuery, "alt=sse") {
		arr, err := sseToJSONArray(rec.ResponseSSE)
		if err != nil {
			s.fail(w, fmt.Sprintf("realbills: record %s: %v", rec.ID, err))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(arr)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, rec.ResponseSSE)
}

// fail answers 400 in the shape of the record's provider.
func (s *Server) fail(w http.ResponseWriter, msg string) {
	var doc any
	switch s.rec.Provider {
	case Anthropic:
		doc = map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "message": msg}}
	case Gemini:
		doc = map[string]any{"error": map[string]any{"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}}
	default:
		doc = map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error"}}
	}
	b, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}

// SSEData returns the data of each event of a server-sent event stream, in order
// (multi-line data joined by "\n", comments and other fields left out). It is how
// the recorded streams are read, for tests that want the last usage a stream carried.
func SSEData(stream string) []string {
	var out []string
	var cur []string
	flush := func() {
		if cur != nil {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(stream, "\r\n", "\n"), "\n") {
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "data:"):
			cur = append(cur, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	flush()
	return out
}

// sseToJSONArray re-frames a Gemini event stream as a JSON array of its events.
func sseToJSONArray(stream string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, d := range SSEData(stream) {
		if !json.Valid([]byte(d)) {
			return nil, fmt.Errorf("event %d is not JSON", i)
		}
		if i > 0 {
			buf.WriteString(",\r\n")
		}
		buf.WriteString(d)
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}
