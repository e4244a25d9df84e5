package providertest

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"unicode"
)

// EmbeddingDims is the length of the vectors the OpenAI server's /embeddings
// endpoint returns.
const EmbeddingDims = 32

// serveOpenAIEmbeddings answers an embeddings request (see NewOpenAI).
func (s *Server) serveOpenAIEmbeddings(w http.ResponseWriter, r *http.Request, req Request) {
	var in struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		s.record(req)
		openAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error())
		return
	}
	var texts []string
	if err := json.Unmarshal(in.Input, &texts); err != nil {
		var one string
		if json.Unmarshal(in.Input, &one) != nil {
			s.record(req)
			openAIError(w, http.StatusBadRequest, "'input' must be a string or an array of strings")
			return
		}
		texts = []string{one}
	}
	req.Model, req.Messages = in.Model, len(texts)
	s.record(req)

	rep := s.reply(r, req)
	if failed(rep) {
		openAIError(w, rep.Status, errText(rep))
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []datum `json:"data"`
		Model  string  `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: in.Model, Data: make([]datum, len(texts))}
	for i, t := range texts {
		out.Data[i] = datum{Object: "embedding", Index: i, Embedding: Embedding(t)}
	}
	if rep.Usage != nil {
		out.Usage.PromptTokens, out.Usage.TotalTokens = rep.Usage.Prompt, rep.Usage.Prompt
	}
	writeJSON(w, http.StatusOK, out)
}

// Embedding is the vector the OpenAI server's embeddings endpoint returns for text:
// a bag of words, so that texts sharing words are near each other and a retriever
// over them finds what a person would. Each word (lower-cased letters and digits)
// adds 1 to one of EmbeddingDims coordinates chosen by its hash, and the vector is
// normalized to length 1; a text with no word gets the first axis.
func Embedding(text string) []float32 {
	v := make([]float64, EmbeddingDims)
	for _, word := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		h := fnv.New32a()
		_, _ = h.Write([]byte(word))
		v[h.Sum32()%EmbeddingDims]++
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, EmbeddingDims)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}
