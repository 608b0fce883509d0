package engine

import (
	"math/rand"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

type rng = rand.Rand

func (e *Engine) rand() *rand.Rand {
	if e.rng == nil {
		e.rng = rand.New(rand.NewSource(e.Seed))
	}
	return e.rng
}

func egress(m *state.Model, mc *state.Machine) []string { return tools.EgressSubnets(m, mc) }
