package charm

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A client's request the server refuses blocks that relation; a genuine fault (connection,
// resources, shutdown) still fails the hook so that Juju retries it.
func TestRequestRefused(t *testing.T) {
	wrap := func(code string) error {
		return fmt.Errorf("create extension x: %w", &pgconn.PgError{Code: code, Message: "no"})
	}
	for _, code := range []string{"0A000", "42939", "3F000", "22023", "42501"} {
		if msg, ok := requestRefused(wrap(code)); !ok || msg == "" {
			t.Errorf("SQLSTATE %s not taken for a refused request", code)
		}
	}
	for _, code := range []string{"08006", "53100", "57P01", "58030", "XX000", "40001"} {
		if _, ok := requestRefused(wrap(code)); ok {
			t.Errorf("SQLSTATE %s taken for a refused request", code)
		}
	}
	if _, ok := requestRefused(errors.New("broken pipe")); ok {
		t.Error("a plain error taken for a refused request")
	}
}
