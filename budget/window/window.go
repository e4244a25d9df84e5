// Package window divides time into the consecutive periods a windowed budget starts
// afresh in (budget.WithWindow, redisbudget.WithWindow): fixed lengths aligned to the
// Unix epoch (Every) or calendar days and months in a time zone (Daily, Monthly).
//
// Every function here is safe for concurrent use, and every Window it returns is a
// pure function of its argument.
package window

import (
	"fmt"
	"time"
)

// Window divides time into consecutive budget periods. A windowed budget starts every
// period with nothing consumed and nothing held.
//
// Bounds returns the period that contains t: start ≤ t < end. Implementations must be
// pure functions of t.
type Window interface {
	Bounds(t time.Time) (start, end time.Time)
}

// Every returns windows of length d aligned to the Unix epoch (so Every(time.Hour)
// starts on the hour, UTC). d ≤ 0 is treated as no window at all: Bounds returns the
// zero start and an end that is never reached.
func Every(d time.Duration) Window { return every(d) }

type every time.Duration

func (w every) Bounds(t time.Time) (time.Time, time.Time) {
	d := time.Duration(w)
	if d <= 0 {
		return time.Time{}, time.Unix(1<<62, 0)
	}
	// Aligned to the Unix epoch, not to time.Time's zero as t.Truncate would be.
	n := t.UnixNano()
	s := n - n%int64(d)
	if n%int64(d) < 0 {
		s -= int64(d)
	}
	start := time.Unix(0, s)
	return start, start.Add(d)
}

func (w every) String() string { return fmt.Sprintf("every %s", time.Duration(w)) }

// Daily returns calendar days in loc (nil means UTC), from midnight to midnight; a day
// with a daylight-saving change is 23 or 25 hours long.
func Daily(loc *time.Location) Window { return calendar{loc: loc, months: 0} }

// Monthly returns calendar months in loc (nil means UTC), from midnight of the first.
func Monthly(loc *time.Location) Window { return calendar{loc: loc, months: 1} }

type calendar struct {
	loc    *time.Location
	months int // 0: daily
}

func (c calendar) Bounds(t time.Time) (time.Time, time.Time) {
	loc := c.loc
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if c.months == 0 {
		start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		return start, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
	}
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	return start, time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
}

func (c calendar) String() string {
	loc := "UTC"
	if c.loc != nil {
		loc = c.loc.String()
	}
	if c.months == 0 {
		return "daily in " + loc
	}
	return "monthly in " + loc
}
