package e2e

import (
	"os"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

func osMkdirTemp() (string, error) {
	dir, err := simtest.ProcessDir()
	if err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, "charm-")
}
