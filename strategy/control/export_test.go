package control

// States returns how many functions the core keeps state for (tests).
func (c *Core) States() int { return len(c.perFunction) }
