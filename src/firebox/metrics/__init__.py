"""Metrics: recorded in memory, stored by the minute, queried as CloudWatch queries them."""
