"""Runtimes: which languages firebox runs, and the code that runs inside them."""
