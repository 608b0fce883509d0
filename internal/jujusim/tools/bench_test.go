package tools

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkRelationGet measures one hook tool call in-process: lock, load the state, answer.
func BenchmarkRelationGet(b *testing.B) {
	home := fixture(b)
	b.Setenv("JUJUSIM_HOME", home)
	b.Setenv("JUJU_CONTEXT_ID", "rel")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if Main("relation-get", []string{"-r=3", "-", "client/0", "--format=json"}, strings.NewReader(""), io.Discard, io.Discard) != 0 {
			b.Fatal("relation-get failed")
		}
	}
}

// BenchmarkRelationSet measures a buffered write (exclusive lock and a state save).
func BenchmarkRelationSet(b *testing.B) {
	home := fixture(b)
	b.Setenv("JUJUSIM_HOME", home)
	b.Setenv("JUJU_CONTEXT_ID", "rel")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if Main("relation-set", []string{"-r=3", "k=v"}, strings.NewReader(""), io.Discard, io.Discard) != 0 {
			b.Fatal("relation-set failed")
		}
	}
}
