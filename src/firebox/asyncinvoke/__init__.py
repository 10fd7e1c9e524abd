"""Event invocations: a durable queue, retries, destinations."""
