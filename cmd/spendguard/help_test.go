package main

import (
	"bytes"
	"context"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelp: help, -h and -help print the usage on stdout with status 0, every line
// within 100 columns, every command of the table with its description, and the
// package doc's Usage block is that same text.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"-help"}, {"--help"}, {"-prefix", "x", "help"}, {"list", "-h"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
		assert.Equal(t, 0, code, "%q", args)
		assert.Empty(t, errb.String(), "%q", args)
		assert.Equal(t, usage(), out.String(), "%q", args)
	}
	u := usage()
	for i, line := range strings.Split(u, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(strings.ReplaceAll(line, "\t", "        ")), 100, "line %d: %q", i+1, line)
	}
	for _, c := range commands {
		first, _, _ := strings.Cut(c.help, "\n")
		assert.Contains(t, u, "  "+strings.TrimSpace(c.name+" "+c.args), c.name)
		assert.Contains(t, u, first, c.name)
	}
	for _, f := range []string{"-redis ADDR", "-prefix PREFIX", "-json", "-yes", "-new", "-interval DURATION", "-listen ADDR", "-token TOKEN"} {
		assert.Contains(t, u, "  "+f+" ")
	}

	if *update {
		src, err := os.ReadFile("main.go")
		require.NoError(t, err)
		var block strings.Builder
		for _, line := range strings.Split(strings.TrimSuffix(u, "\n"), "\n") {
			block.WriteString(strings.TrimRight("//\t"+line, "\t") + "\n")
		}
		start := bytes.Index(src, []byte("//\tusage: spendguard"))
		end := bytes.Index(src, []byte("//\n// -json makes"))
		require.True(t, start > 0 && end > start, "main.go's Usage block not found")
		require.NoError(t, os.WriteFile("main.go", slices.Concat(src[:start], []byte(block.String()), src[end:]), 0o644))
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	var block strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(u, "\n"), "\n") {
		if line != "" {
			line = "\t" + line
		}
		block.WriteString(line + "\n")
	}
	assert.Contains(t, f.Doc.Text(), block.String(), "the package doc's Usage block is `spendguard help` (go test -run TestHelp -update rewrites it)")
}

var update = flag.Bool("update", false, "TestHelp: rewrite main.go's Usage block from the command table")

// TestCommandLine: what the command table accepts and refuses, with exit status 2
// and one line naming what was wrong.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "me"}, `help takes no arguments, got 1 argument(s): ["me"]`},
		{[]string{"serve", "x"}, `serve takes no arguments, got 1 argument(s): ["x"]`},
		{[]string{"-listen", ":1", "list"}, "-listen applies to serve, not list"},
		{[]string{"-token", "t", "show", "a"}, "-token applies to serve, not show"},
		{[]string{"-interval", "1s", "list"}, "-interval applies to watch and serve, not list"},
		{[]string{"-json", "watch"}, "-json applies to list, show, rates and rate show, not watch"},
		{[]string{"rate"}, "rate takes show, set or unset, got nothing (spendguard help lists them)"},
		{[]string{"rate", "list"}, `rate takes show, set or unset, got "list" (spendguard help lists them)`},
		{[]string{"rate", "show"}, "rate show takes a NAME, got 0 argument(s): []"},
		{[]string{"rate", "set", "a"}, `rate set takes a NAME and a LIMIT, got 1 argument(s): ["a"]`},
		{[]string{"rate", "unset", "a{b}"}, `rate limit name "a{b}" contains '{' or '}': give the name between the braces of its keys, not a Redis key`},
		{[]string{"rates", "x{"}, `pattern "x{" contains '{' or '}': give the name between the braces of its keys, not a Redis key`},
		{[]string{"-yes", "rate", "show", "a"}, "-yes applies to reset, not rate show"},
		{[]string{"-rate-prefix", "a}", "rates"}, `-rate-prefix "a}" contains '{' or '}'`},
		{[]string{"rate", "set", "a", "0/5s"}, `limit "0/5s": it limits nothing (every count is 0) (want TOKENS/INTERVAL like 3000/5s, or tokens=N,input=N,output=N,requests=N/INTERVAL)`},
		{[]string{"lsit"}, `unknown command "lsit": want list, show, set, unset, reset, watch, serve, rates, rate show, rate set, rate unset or help (spendguard help lists them)`},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, func(string) string { return "" }, &out, &errb)
		assert.Equal(t, 2, code, "%q", c.args)
		assert.Empty(t, out.String())
		assert.Equal(t, "spendguard: "+c.want+"\n", errb.String(), "%q", c.args)
	}
}
