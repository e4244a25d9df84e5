package ratelimit_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoRedisDependency: a user who imports ratelimit alone does not get go-redis
// (ratelimit/redisrate has it).
func TestNoRedisDependency(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "github.com/spendguard/spendguard/ratelimit").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "go-redis") || strings.Contains(p, "redis_rate") {
			t.Errorf("ratelimit imports %s", p)
		}
	}
}
