"""Time-driven work shared by EventBridge's scheduled rules and the Scheduler."""
