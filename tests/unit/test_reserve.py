"""The pre-built reserve's policy with a mock pool (no sandboxes): zygote keys keep their
minimum; early keys (exec'd runtimes such as Node) are built from the template they were
taken with, exist only while in demand, and share the budget at what they cost."""

from __future__ import annotations

import asyncio

from firebox.sandboxes.base import Mount, SandboxSpec
from firebox.sandboxes.reserve import EARLY_IDLE_S, SandboxReserve, Template


class FakeCgroup:
    def __init__(self, mb: float) -> None:
        self.mb = mb

    def memory_bytes(self) -> int:
        return int(self.mb * 1024 * 1024)


class FakeSandbox:
    """A pre-built sandbox that is built at once and costs what its spec says."""

    def __init__(self, spec: SandboxSpec) -> None:
        self.spec = spec
        self.cgroup = FakeCgroup(45.0 if spec.early else 3.0)
        self.killed = False

    async def start(self) -> None: ...

    async def prepare_listener(self) -> None: ...

    async def built(self) -> bool:
        return True

    def reap(self) -> int | None:
        return 0 if self.killed else None

    def kill(self) -> None:
        self.killed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> tuple[SandboxReserve[FakeSandbox], list[SandboxSpec]]:
    built: list[SandboxSpec] = []

    def build(spec: SandboxSpec) -> FakeSandbox:
        built.append(spec)
        return FakeSandbox(spec)

    def runtime_for(interpreter: str) -> Template:
        return Template((Mount("/rt", "/var/runtime"),), zygote=interpreter)

    reserve = SandboxReserve(build, lambda: False, runtime_for, minimum=2, budget_mb=256,
                             clock=clock)  # fmt: skip
    return reserve, built


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def test_early_keys_are_built_from_their_template_and_only_while_in_demand() -> None:
    async def scenario() -> None:
        clock = Clock()
        reserve, built = make(clock)
        template = Template((Mount("/node", "/var/lang/node"),), argv=("/node", "index.mjs"))
        assert reserve.take("exec:node", template) is None  # nothing yet: it asks for one
        assert reserve.minimum_for("exec:node") == 1 and reserve.cost("exec:node") == 40.0
        reserve.want("exec:node")
        await settle()
        assert reserve.size("exec:node") == 1
        spec = built[-1]
        assert spec.early and spec.argv == ["/node", "index.mjs"] and spec.zygote is None
        assert spec.mounts == template.mounts
        taken = reserve.take("exec:node")
        assert taken is not None and reserve.cost("exec:node") == 45.0  # measured
        await settle()
        clock.now += EARLY_IDLE_S + 1  # no demand since: none are kept
        assert reserve.minimum_for("exec:node") == 0 and reserve.target("exec:node") == 0
        reserve.want("exec:node")
        assert reserve.size("exec:node") == 0
        reserve.close()

    asyncio.run(scenario())


def test_zygote_keys_keep_their_minimum_and_costs_are_per_key() -> None:
    async def scenario() -> None:
        clock = Clock()
        reserve, built = make(clock)
        reserve.want("/usr/bin/python3.11")
        await settle()
        assert reserve.size("/usr/bin/python3.11") == 2
        assert all(spec.zygote == "/usr/bin/python3.11" and not spec.early for spec in built)
        assert reserve.take("/usr/bin/python3.11") is not None
        assert reserve.cost("/usr/bin/python3.11") == 3.0
        clock.now += EARLY_IDLE_S * 10
        assert reserve.minimum_for("/usr/bin/python3.11") == 2
        assert reserve.target("/usr/bin/python3.11") == 2
        # an expensive early key gets its share of the budget at its own cost
        template = Template((), argv=("/node",))
        for _ in range(20):
            reserve.take("exec:node", template)
        assert reserve.target("exec:node") == int(256 / 2 // 40)
        reserve.close()

    asyncio.run(scenario())
