package e2e

import "os"

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "jujusim-charm-") }
