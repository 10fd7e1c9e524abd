"""Event source pollers: read a source (SQS now; streams, Kafka, NATS or Redis later), hand a
function its records in batches, and settle them by the outcome."""
