"""The `firebox` command line."""
