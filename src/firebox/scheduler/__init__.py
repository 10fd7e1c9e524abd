"""EventBridge Scheduler: schedules and schedule groups, fired on time, durably."""
