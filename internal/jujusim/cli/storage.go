package cli

import (
	"fmt"
)

func init() {
	reg("import-filesystem", "POOL PROVIDER_ID STORAGE_NAME", cmdImportFilesystem)
}

func cmdImportFilesystem(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 3, 3, "import-filesystem POOL PROVIDER_ID STORAGE_NAME"); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "importing %q from storage pool %q as storage %q\n", args[1], args[0], args[2])
	id, err := c.e.ImportFilesystem(c.ref(), args[0], args[1], args[2])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "imported storage %s\n", id)
	return nil
}
