"""Topics: an SNS-compatible publish/subscribe service that fans messages out to functions and
queues, durably."""
