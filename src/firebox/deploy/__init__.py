"""Deploying whole apps from serverless.yml: reading it, resolving its variables, planning."""
