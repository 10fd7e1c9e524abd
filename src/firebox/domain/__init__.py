"""The domain: typed records, references, errors. No I/O, no framework."""
