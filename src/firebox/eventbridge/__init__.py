"""EventBridge: event buses, rules matching events by pattern or firing on a schedule, and
their targets."""
