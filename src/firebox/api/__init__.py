"""The HTTP layer: parses requests into calls on the core and serialises the results."""
