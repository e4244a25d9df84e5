package testenv_test

import (
	"testing"

	"github.com/spendguard/spendguard/internal/testenv"
)

// fake records what Need did to a test.
type fake struct {
	testing.TB
	skipped, failed bool
}

func (f *fake) Helper()               {}
func (f *fake) Skipf(string, ...any)  { f.skipped = true }
func (f *fake) Fatalf(string, ...any) { f.failed = true }

func TestNeed(t *testing.T) {
	const env = "SPENDGUARD_TESTENV_PROBE"
	for _, c := range []struct {
		name, value, absent string
		want                string
		skipped, failed     bool
	}{
		{name: "set", value: "127.0.0.1:1", want: "127.0.0.1:1"},
		{name: "set, absent ignored", value: "x", absent: "absent", want: "x"},
		{name: "empty fails", failed: true},
		{name: "empty, other marker fails", absent: "1", failed: true},
		{name: "empty, absent skips", absent: "absent", skipped: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(env, c.value)
			t.Setenv(testenv.Absent, c.absent)
			f := &fake{TB: t}
			got := testenv.Need(f, env)
			if got != c.want || f.skipped != c.skipped || f.failed != c.failed {
				t.Fatalf("Need = %q skipped %v failed %v, want %q %v %v", got, f.skipped, f.failed, c.want, c.skipped, c.failed)
			}
		})
	}
}
