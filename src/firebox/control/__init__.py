"""The control plane: functions, releases, concurrency, URLs, routes, rollouts."""
