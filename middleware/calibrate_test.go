package middleware

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

func within(got, want uint64, rel float64) bool {
	return math.Abs(float64(got)-float64(want)) <= rel*float64(want)+1
}

// Before calMin pairs, an estimate is only raised (by the lowest ratio billed, at
// most calEarlyMax), never lowered.
func TestCalibrationColdStart(t *testing.T) {
	var c calibration
	if got := c.apply(120); got != 120 {
		t.Fatalf("cold apply(120) = %d", got)
	}
	c.observe(100, 130)
	if got := c.apply(200); got != 260 {
		t.Fatalf("after one pair billed 1.3× apply(200) = %d, want 260", got)
	}
	c.observe(110, 121)
	if got := c.apply(200); got != 220 {
		t.Fatalf("after pairs billed 1.3× and 1.1× apply(200) = %d, want the lower: 220", got)
	}
	var big calibration
	big.observe(100, 700)
	big.observe(110, 710)
	if got := big.apply(120); got != 120*calEarlyMax {
		t.Fatalf("after %d pairs billed 6× apply(120) = %d, want at most %d× until %d pairs", 2, got, calEarlyMax, calMin)
	}
	var low calibration
	low.observe(100, 90)
	low.observe(100, 120)
	if got := low.apply(120); got != 120 {
		t.Fatalf("after a pair billed below its estimate apply(120) = %d, want the static estimate until %d pairs", got, calMin)
	}
}

// The shapes real providers bill: a hidden prompt (an overhead), another tokenizer
// (a ratio), a chat template (both); each is learned within a handful of calls. A
// fit that lowers the estimate is not applied below the lowest ratio billed (the
// correction errs above), which is what a prompt smaller than any seen gets.
func TestCalibrationLearnsBillingShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		bill func(x float64) float64
	}{
		{"hidden prompt 612", func(x float64) float64 { return x + 612 }},
		{"tokenizer 1.3x", func(x float64) float64 { return 1.3 * x }},
		{"half the framing", func(x float64) float64 { return 0.8*x - 4 }},
		{"template and tokenizer", func(x float64) float64 { return 1.1*x + 40 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var c calibration
			low := 1.0
			for range 6 {
				x := 50 + rng.Float64()*2000
				y := math.Round(tc.bill(x))
				c.observe(uint64(x), uint64(y))
				low = min(low, y/float64(uint64(x)))
			}
			for _, x := range []uint64{30, 400, 3000} {
				want := uint64(math.Round(max(tc.bill(float64(x)), low*float64(x))))
				if got := c.apply(x); !within(got, want, 0.03) {
					t.Errorf("apply(%d) = %d, want %d", x, got, want)
				}
			}
		})
	}
}

// The same prompt over and over: no slope can be seen, the overhead carries it all.
func TestCalibrationConstantPrompt(t *testing.T) {
	var c calibration
	for range 5 {
		c.observe(38, 17)
	}
	if got := c.apply(38); got != 17 {
		t.Errorf("apply(38) = %d, want 17", got)
	}
	// A ratio fits as well as an overhead; the overhead is kept (documented).
	if got := c.apply(380); got != 380-21 {
		t.Errorf("apply(380) = %d, want the overhead carried: 359", got)
	}
}

// A few wild pairs (a retry billed twice, a cached prompt) move nothing.
func TestCalibrationIgnoresOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var c calibration
	for i := range 40 {
		x := 100 + rng.Float64()*900
		y := x + 300
		switch i % 8 {
		case 3:
			y *= 10
		case 6:
			y = 1
		}
		c.observe(uint64(x), uint64(y))
	}
	if got := c.apply(500); !within(got, 800, 0.03) {
		t.Errorf("apply(500) = %d, want 800", got)
	}
}

// After a model's billing changes (a new system prompt on the router), the fit follows.
func TestCalibrationFollowsChange(t *testing.T) {
	var c calibration
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		x := 100 + rng.Float64()*900
		c.observe(uint64(x), uint64(x))
	}
	for range 3 * calPairs {
		x := 100 + rng.Float64()*900
		c.observe(uint64(x), uint64(x+200))
	}
	if got := c.apply(500); !within(got, 700, 0.03) {
		t.Errorf("apply(500) = %d, want 700", got)
	}
}

func checkCalibrationBounds(t *testing.T, c *calibration, x uint64) {
	t.Helper()
	got := c.apply(x)
	if x == 0 {
		if got != 0 {
			t.Fatalf("apply(0) = %d", got)
		}
		return
	}
	lo, hi := float64(x)/4, 4*float64(x)+maxOverhead
	if float64(got) < math.Floor(lo) || float64(got) > math.Ceil(hi) || got == 0 {
		t.Fatalf("apply(%d) = %d outside [%v, %v]", x, got, lo, hi)
	}
	s, o := unpackParams(c.params.Load())
	if c.params.Load() != 0 && (s < minSlope || s > maxSlope || o < -maxOverhead || o > maxOverhead || math.IsNaN(float64(s))) {
		t.Fatalf("params slope %v overhead %d out of bounds", s, o)
	}
}

// FuzzCalibration feeds arbitrary (estimate, billed) pairs, as a provider might
// report them: the calibrated estimate stays within its documented bounds.
func FuzzCalibration(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c calibration
		for len(data) >= 16 {
			x, y := binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:])
			data = data[16:]
			c.observe(x%(1<<40), y%(1<<40))
			checkCalibrationBounds(t, &c, x%(1<<40))
			checkCalibrationBounds(t, &c, 1)
			checkCalibrationBounds(t, &c, 0)
		}
	})
}

func TestCalibrationConcurrent(t *testing.T) {
	var c calibration
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 2000 {
				x := uint64(50 + rng.IntN(2000))
				c.observe(x, x+612)
				checkCalibrationBounds(t, &c, x)
			}
		}()
	}
	wg.Wait()
	if got := c.apply(1000); !within(got, 1612, 0.02) {
		t.Errorf("apply(1000) = %d, want 1612", got)
	}
}

func TestCalibrationDoesNotAllocate(t *testing.T) {
	var c calibration
	i := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		i++
		c.observe(100+i%700, 100+i%700+50)
		_ = c.apply(300)
	}); n != 0 {
		t.Errorf("observe+apply allocate %v times", n)
	}
}

// BenchmarkCalibrationSteady is the per-call cost on traffic the fit predicts (the
// usual case once warm): apply and observe.
func BenchmarkCalibrationSteady(b *testing.B) {
	var c calibration
	b.ReportAllocs()
	for b.Loop() {
		x := c.apply(38)
		c.observe(38, 17)
		_ = x
	}
}

// BenchmarkCalibrationRefit is the worst case: a refit on every call.
func BenchmarkCalibrationRefit(b *testing.B) {
	var c calibration
	for i := range calPairs {
		c.observe(uint64(100+37*i), uint64(150+41*i))
	}
	b.ReportAllocs()
	for b.Loop() {
		p, floor := c.fit(calPairs)
		c.floor.Store(math.Float32bits(floor))
		c.params.Store(p)
	}
}

// BenchmarkCalibrationApply is the cost added to the estimate of every call.
func BenchmarkCalibrationApply(b *testing.B) {
	var c calibration
	for i := range calPairs {
		c.observe(uint64(100+37*i), uint64(150+41*i))
	}
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n += c.apply(300)
	}
	_ = n
}

// A model's calibration is per request shape: an overhead learned from calls with
// tools (a tool-use system prompt) is not applied to its calls without them, which
// keep their own fit (16 → 733 before calibration was per shape).
func TestCalibrationPerShape(t *testing.T) {
	var r modelRing
	for i := range 8 {
		x := uint64(40 + 10*i)
		r.observePrompt(shapeTools, x, x+700) // a hidden tool prompt
		r.observePrompt(0, x/4, x/4)          // plain calls: the static estimate is right
	}
	if got := r.calibrated(0, 16); got != 16 {
		t.Errorf("without tools: calibrated(16) = %d, want 16", got)
	}
	if got := r.calibrated(shapeTools, 60); !within(got, 760, 0.02) {
		t.Errorf("with tools: calibrated(60) = %d, want ~760", got)
	}
	if got := r.calibrated(shapeTools|shapeImages, 60); got != 60 {
		t.Errorf("a shape not seen yet: calibrated(60) = %d, want the static 60", got)
	}
}

func TestShapeOf(t *testing.T) {
	img := llms.MessageContent{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.TextContent{Text: "see"}, llms.BinaryContent{MIMEType: "IMAGE/png", Data: []byte{1}}}}
	txt := llms.TextParts(llms.ChatMessageTypeHuman, "hi")
	pdf := llms.MessageContent{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.BinaryContent{MIMEType: "application/pdf", Data: []byte{1}}}}
	url := llms.MessageContent{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.WithCacheControl(llms.ImageURLContent{URL: "https://x/y.png"}, nil)}}
	tools := &llms.CallOptions{Tools: []llms.Tool{{Type: "function"}}}
	for _, tc := range []struct {
		msgs []llms.MessageContent
		o    *llms.CallOptions
		want shape
	}{
		{nil, nil, 0}, {[]llms.MessageContent{txt}, &llms.CallOptions{}, 0}, {[]llms.MessageContent{txt, img}, nil, shapeImages},
		{[]llms.MessageContent{pdf}, tools, shapeTools}, {[]llms.MessageContent{url}, tools, shapeTools | shapeImages},
		{[]llms.MessageContent{txt}, &llms.CallOptions{Functions: []llms.FunctionDefinition{{Name: "f"}}}, shapeTools},
	} {
		if got := shapeOf(tc.msgs, tc.o); got != tc.want {
			t.Errorf("shapeOf(%v, %+v) = %b, want %b", tc.msgs, tc.o, got, tc.want)
		}
	}
}

// What calibration does per call (the request's shape, the calibrated estimate, the
// lesson from its bill) allocates nothing.
func TestCalibrationPerCallDoesNotAllocate(t *testing.T) {
	var r modelRing
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi"),
		{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.ImageURLContent{URL: "https://x/y.png"}}}}
	o := &llms.CallOptions{Tools: []llms.Tool{{Type: "function"}}}
	i := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		i++
		s := shapeOf(msgs, o)
		_ = r.calibrated(s, 300)
		r.observePrompt(s, 100+i%700, 100+i%700+50)
	}); n != 0 {
		t.Errorf("shapeOf+calibrated+observePrompt allocate %v times", n)
	}
}

// A fit that lowers the estimate stops at the lowest share of an estimate ever
// billed: gpt-4o's tools, over-estimated by about 44 tokens on three large prompts,
// must not take 44 from a prompt estimated at 85 and billed 71 (reserved 41 before).
func TestCalibrationFloorsDownwardFits(t *testing.T) {
	var c calibration
	for _, p := range [][2]uint64{{431, 364}, {467, 423}, {491, 448}} {
		c.observe(p[0], p[1])
	}
	if got, low := c.apply(85), uint64(math.Ceil(85*364/431.0)); got < low-1 {
		t.Errorf("apply(85) = %d, want at least %d (the lowest ratio billed, 364/431)", got, low)
	}
	if got := c.apply(480); !within(got, 480-44, 0.03) {
		t.Errorf("apply(480) = %d, want about %d: the fit still applies where it was learned", got, 480-44)
	}
	// A fit that raises the estimate is not held back.
	var up calibration
	for range 4 {
		up.observe(40, 640)
	}
	if got := up.apply(40); got != 640 {
		t.Errorf("apply(40) after bills of 640 = %d", got)
	}
}
