package engine

import (
	"math/rand"
)

type rng = rand.Rand

func (e *Engine) rand() *rand.Rand {
	if e.rng == nil {
		e.rng = rand.New(rand.NewSource(e.Seed))
	}
	return e.rng
}
