"""Allows `python -m firebox`."""

from firebox.cli.main import main

main()
