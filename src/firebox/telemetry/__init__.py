"""Function logs: durable storage and the CloudWatch-style lines firebox writes."""
