"""An SQS-compatible queue service: queues, messages, visibility, FIFO, dead-letter queues."""
