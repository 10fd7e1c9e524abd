"""Per-environment cgroups: memory at MemorySize, CPU in proportion to it, pids.

Backends: `v2` (the unified hierarchy, preferred), `v1` (separate hierarchies, root only)
and `none` (no group; rlimits stand in). `detect` picks one without changing anything.
"""

from firebox.sandboxes.cgroups.base import FULL_CORE_MB, CgroupTree, EnvironmentCgroup
from firebox.sandboxes.cgroups.detect import CgroupSupport, detect
from firebox.sandboxes.cgroups.tuning import favor_migrations

__all__ = ["FULL_CORE_MB", "CgroupSupport", "CgroupTree", "EnvironmentCgroup", "detect",
           "favor_migrations"]  # fmt: skip
