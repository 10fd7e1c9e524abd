"""The invoke path: one invocation from a qualified reference to its result."""
