package tools

import (
	"fmt"
)

func init() {
	register("credential-get", credentialGet, false, "smart")
}

func credentialGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	return fmt.Errorf("cannot access cloud credentials: jujusim has no cloud (use \"juju trust\" on a real controller)")
}
