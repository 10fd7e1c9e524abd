"""firebox: a self-hosted, AWS-Lambda-compatible Functions-as-a-Service platform."""

__version__ = "0.1.0"
