package providertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
)

// Usage is the token usage a server reports, normalized (see the package doc):
// Prompt is the whole billed input, cached parts included.
type Usage struct {
	Prompt       int // billed input tokens, cached ones included
	Completion   int // output tokens, reasoning ones included
	CachedPrompt int // part of Prompt read from cache (OpenAI cached_tokens, Anthropic cache_read_input_tokens)
	Reasoning    int // part of Completion spent reasoning (OpenAI reasoning_tokens; not on the Anthropic or Ollama wire)
	// CacheWrite is the part of Prompt written to the cache (Anthropic
	// cache_creation_input_tokens; not on the OpenAI or Ollama wire). The Anthropic
	// server sends input_tokens = Prompt − CachedPrompt − CacheWrite, floored at 0.
	CacheWrite int
}

// ToolCall is one tool (function) call the model asks for. Arguments is the JSON text
// of the arguments; an empty one is sent as {}. Anthropic and Ollama carry arguments as
// a JSON object, so there Arguments that are not a JSON object are sent wrapped as
// {"arguments": "<text>"}. An empty ID is replaced by a generated one.
type ToolCall struct{ ID, Name, Arguments string }

// Reply is what a server answers to one request.
type Reply struct {
	Text      string
	ToolCalls []ToolCall
	// Usage nil: the server reports no usage at all (the usage object is left out).
	// Anthropic's stream is the exception: langchaingo's client rejects a stream
	// without usage, so there a nil Usage is sent as zeros.
	Usage *Usage
	// FinishReason "" picks the provider's natural one: OpenAI stop / tool_calls,
	// Anthropic end_turn / tool_use, Ollama stop.
	FinishReason string
	// Status 0 or 200 is a success; any other status answers with the provider's
	// error document, carrying Text (or the status text when Text is empty) as the
	// message.
	Status int
	// Hang makes the server answer nothing: it holds the request until the client
	// gives up (cancels its context) or the server is closed, then drops the
	// connection. It is for testing cancellation and timeouts.
	Hang bool
}

// Request is what the client sent, decoded.
type Request struct {
	Model     string
	MaxTokens int    // OpenAI max_completion_tokens or max_tokens; Anthropic max_tokens; Ollama options.num_predict
	Stream    bool   // the request's "stream" field (Ollama streams even when it is absent, as Ollama does)
	N         int    // OpenAI "n" as sent (0 when absent); 0 for the others
	Messages  int    // number of entries in "messages" (of texts in "input" for OpenAI embeddings)
	Tools     int    // number of tools (and legacy OpenAI functions) offered
	Body      []byte // the raw body as received
	Path      string // the URL path it was sent to
}

// Script decides the reply to each request. A server calls it once per request it
// could decode, from the request's goroutine.
type Script func(Request) Reply

// Fixed is a Script that always answers r.
func Fixed(r Reply) Script {
	return func(Request) Reply { return r }
}

// Sequence is a Script that answers replies in order, then repeats the last one for
// ever. It is safe for concurrent use. With no replies it answers an empty Reply.
func Sequence(replies ...Reply) Script {
	var mu sync.Mutex
	i := 0
	return func(Request) Reply {
		mu.Lock()
		defer mu.Unlock()
		if len(replies) == 0 {
			return Reply{}
		}
		r := replies[min(i, len(replies)-1)]
		i++
		return r
	}
}

// Server is one fake provider. Build it with NewOpenAI, NewAnthropic or NewOllama and
// Close it when done.
type Server struct {
	// URL is the base URL to give the client (no trailing slash).
	URL string

	ts      *httptest.Server
	script  Script
	ids     atomic.Uint64
	closing chan struct{} // closed by Close, releasing hung requests
	once    sync.Once

	mu   sync.Mutex
	reqs []Request
}

func newServer(s Script, h func(*Server, http.ResponseWriter, *http.Request)) *Server {
	if s == nil {
		s = Fixed(Reply{})
	}
	srv := &Server{script: s, closing: make(chan struct{})}
	srv.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(srv, w, r)
	}))
	srv.URL = srv.ts.URL
	return srv
}

// Requests returns copies of all requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Close shuts the server down, waiting for requests in flight, and closes the idle
// connections of the clients built by its *Client methods. It is safe to call twice.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.ts.Close()
}

// reply runs the script; for a Reply with Hang it waits for the client or the
// server to give up and aborts the connection, never returning.
func (s *Server) reply(r *http.Request, req Request) Reply {
	rep := s.script(req)
	if rep.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler) // net/http drops the connection quietly
	}
	return rep
}

// HTTPClient is the http.Client the *Client methods give langchaingo: it trusts the
// server and its idle connections are closed by Close (so goroutine-leak checks pass).
func (s *Server) HTTPClient() *http.Client { return s.ts.Client() }

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
}

func (s *Server) nextID() uint64 { return s.ids.Add(1) }

// readBody reads the request body; a body that cannot be read is recorded as what
// arrived so far.
// accept reads r's body and, unless r is a POST to the endpoint (pathOK), records it
// and answers in the provider's error format (fail): 404 with notFound for another
// path, 405 for another method. ok reports whether the handler should go on.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, pathOK bool, notFound string,
	fail func(http.ResponseWriter, int, string)) (req Request, ok bool) {
	req = Request{Path: r.URL.Path, Body: readBody(r)}
	switch {
	case !pathOK:
		s.record(req)
		fail(w, http.StatusNotFound, notFound)
		return req, false
	case r.Method != http.MethodPost:
		s.record(req)
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return req, false
	}
	return req, true
}

func readBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func errText(r Reply) string {
	if r.Text != "" {
		return r.Text
	}
	if t := http.StatusText(r.Status); t != "" {
		return t
	}
	return fmt.Sprintf("status %d", r.Status)
}

func failed(r Reply) bool { return r.Status != 0 && r.Status != http.StatusOK }

// argsObject turns tool-call arguments into a JSON object for the wire formats that
// carry an object (Anthropic, Ollama).
func argsObject(args string) json.RawMessage {
	a := strings.TrimSpace(args)
	if a == "" {
		return json.RawMessage(`{}`)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(a), &obj) == nil && obj != nil {
		return json.RawMessage(a)
	}
	b, _ := json.Marshal(map[string]string{"arguments": args})
	return b
}

// argsString is the arguments as OpenAI carries them: JSON text in a string.
func argsString(args string) string {
	if strings.TrimSpace(args) == "" {
		return "{}"
	}
	return args
}

// chunks splits text into word-sized stream pieces that concatenate back to text.
func chunks(text string) []string {
	if text == "" {
		return nil
	}
	return strings.SplitAfter(text, " ")
}

// argChunks splits JSON argument text into a few pieces, as providers stream it.
func argChunks(s string) []string {
	const n = 8
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// sse writes Server-Sent Events, flushing each so clients see a real stream.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: http.NewResponseController(w)}
}

// event writes one event; name "" writes a data-only event (OpenAI's style).
func (e *sse) event(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	e.raw(name, b)
}

func (e *sse) raw(name string, data []byte) {
	var buf bytes.Buffer
	if name != "" {
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteByte('\n')
	}
	buf.WriteString("data: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	_, _ = e.w.Write(buf.Bytes())
	_ = e.rc.Flush()
}
