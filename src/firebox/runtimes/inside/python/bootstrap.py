"""Entry point of firebox's Python runtime: `python -S /var/runtime/bootstrap.py`.

Kept tiny on purpose: the real work is in firebox_runtime, whose bytecode is cached.
"""

import firebox_runtime

firebox_runtime.main()
