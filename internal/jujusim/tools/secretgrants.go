package tools

// grantHolds says whether a secret grant made in the context of relation rel still lets
// the calling unit read the secret: the relation still exists and the unit's application
// is one of its sides. Juju 3.6 ties every grant to its relation ("once the relation is
// removed, so too is the access grant", secret-grant's help text), and an application
// of the same name in another model is another application.
func (c *call) grantHolds(rel int) bool {
	r := c.st.Relations[rel]
	return r != nil && r.SideOf(c.m.UUID, c.u.App) >= 0
}
