package cli

import (
	"errors"
	"fmt"
)

func init() {
	reg("import-filesystem", "POOL PROVIDER_ID STORAGE_NAME", cmdImportFilesystem)
	reg("detach-storage", "STORAGE_ID...  (the unit runs -storage-detaching and lives on without it)", cmdDetachStorage)
	reg("attach-storage", "UNIT STORAGE_ID...  (mounts the volume, then -storage-attached)", cmdAttachStorage)
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

func cmdDetachStorage(c *env) error {
	var force bool
	c.fs.Bool(&force, "force")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, -1, "detach-storage STORAGE_ID..."); err != nil {
		return err
	}
	var errs []error
	for _, id := range args {
		if err := c.e.DetachStorage(c.ref(), id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(c.stdout, "detaching %s\n", id)
	}
	return errors.Join(append(errs, c.settle())...)
}

func cmdAttachStorage(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, -1, "attach-storage UNIT STORAGE_ID..."); err != nil {
		return err
	}
	var errs []error
	for _, id := range args[1:] {
		if err := c.e.AttachStorage(c.ctx, c.ref(), args[0], id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(c.stdout, "attaching %s to %s\n", id, args[0])
	}
	return errors.Join(append(errs, c.settle())...)
}
