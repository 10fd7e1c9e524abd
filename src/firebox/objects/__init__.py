"""Object storage: S3-compatible buckets and objects, kept durably under the data directory."""
