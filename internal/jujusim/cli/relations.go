package cli

import (
	"fmt"
)

func init() {
	reg("integrate", "APP[:EP] APP[:EP] [--via CIDR[,CIDR]]", cmdIntegrate, "add-relation", "relate")
	reg("remove-relation", "APP[:EP] APP[:EP]", cmdRemoveRelation)
	reg("offer", "[MODEL.]APP:EP[,EP] [OFFER_NAME]", cmdOffer)
	reg("consume", "[CONTROLLER:]OWNER/MODEL.OFFER [SAAS_NAME]", cmdConsume)
}

func cmdIntegrate(c *env) error {
	var via string
	c.fs.String(&via, "via")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "integrate A B"); err != nil {
		return err
	}
	if err := c.e.IntegrateVia(c.ref(), args[0], args[1], splitList([]string{via})); err != nil {
		return err
	}
	return c.settle()
}

func cmdRemoveRelation(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, 2, "remove-relation A B"); err != nil {
		return err
	}
	if err := c.e.RemoveRelation(c.ref(), args[0], args[1]); err != nil {
		return err
	}
	return c.settle()
}

func cmdOffer(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "offer MODEL.APP:EP [NAME]"); err != nil {
		return err
	}
	name := ""
	if len(args) > 1 {
		name = args[1]
	}
	msg, err := c.e.Offer(c.ref(), args[0], name)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

func cmdConsume(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 2, "consume URL [NAME]"); err != nil {
		return err
	}
	alias := ""
	if len(args) > 1 {
		alias = args[1]
	}
	msg, err := c.e.Consume(c.ref(), args[0], alias)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}
