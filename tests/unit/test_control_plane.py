"""The control plane in-process: typed commands in, records and events out, no HTTP at all."""

from __future__ import annotations

import pytest

from firebox.api.parsing import validation_message
from firebox.control.event_configs import EventConfigChange
from firebox.control.events import FunctionDeleted, FunctionDeployed, Invoked
from firebox.control.releases import AliasChange
from firebox.control.rollouts import RolloutPlan
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    ConstraintError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.functions import FunctionConfig
from harness import ControlPlane, new_function, run, zip_of

F = FunctionRef("f")


def test_a_python_caller_creates_and_changes_a_function(plane: ControlPlane) -> None:
    async def go() -> None:
        created = await plane.functions.create(new_function("f", memory_size=256))
        assert created.memory_size == 256 and created.version == "$LATEST"
        assert plane.catalog.get(F) == created
        changed = await plane.functions.update_configuration(
            F, FunctionConfig(timeout=30, environment={"MODE": "test"}), created.revision_id
        )
        assert (changed.timeout, changed.memory_size, changed.environment) == (
            30, 256, {"MODE": "test"})  # fmt: skip
        assert changed.revision_id != created.revision_id
        with pytest.raises(PreconditionFailedException):
            await plane.functions.update_configuration(F, FunctionConfig(timeout=5), "stale")
        with pytest.raises(ResourceConflictException):
            await plane.functions.create(new_function("f"))

    run(go())
    deployed = [e for e in plane.events if isinstance(e, FunctionDeployed)]
    assert [e.record.timeout for e in deployed] == [3, 30]  # created, then changed


def test_limits_are_the_domains_and_worded_as_aws_by_the_api(plane: ControlPlane) -> None:
    with pytest.raises(ConstraintError) as error:
        run(plane.functions.create(new_function("f", timeout=901)))
    assert str(error.value) == "timeout: Member must have value less than or equal to 900 (was 901)"
    assert validation_message(error.value.value, error.value.member, error.value.constraint) == (
        "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
        "Member must have value less than or equal to 900"
    )
    with pytest.raises(InvalidParameterValueException, match="reserved keys"):
        run(plane.functions.create(new_function("f", environment={"AWS_REGION": "x"})))
    with pytest.raises(InvalidParameterValueException, match="Role is required"):
        run(plane.functions.create(new_function("f", role=None)))
    assert plane.catalog.names() == []  # nothing stored by any of them


def test_deleting_a_function_clears_everything_that_depends_on_it(plane: ControlPlane) -> None:
    """Each service that keeps something per function hears of the deletion once, in one place."""

    async def go() -> str:
        await plane.functions.create(new_function("f"))
        version = await plane.releases.publish(F)
        await plane.releases.create_alias(F, "live", version.version)
        await plane.event_configs.put(F, EventConfigChange(maximum_retry_attempts=1))
        url = await plane.urls.create(F)
        await plane.routes.add("GET /f", "f")
        await plane.concurrency.set_reserved(F, 3)
        assert plane.pool.admission.reservations == {"f": 3}
        await plane.functions.delete(F)
        return url.url_id

    url_id = run(go())
    assert plane.catalog.names() == [] and plane.urls.lookup(url_id) is None
    assert plane.routes.list() == [] and plane.pool.admission.reservations == {}
    assert plane.event_configs.effective("f", None).maximum_retry_attempts is None
    assert ("f", None) in plane.pool.retired
    assert [e for e in plane.events if isinstance(e, FunctionDeleted)] == [FunctionDeleted("f")]


def test_aliases_route_by_weight_and_invokes_are_told(plane: ControlPlane) -> None:
    async def go() -> list[str]:
        await plane.functions.create(new_function("f"))
        await plane.releases.publish(F)
        await plane.functions.update_code(F, zip_of("def handler(e, c):\n    return 2\n"))
        await plane.releases.publish(F)
        await plane.releases.create_alias(F, "live", "1", weights={"2": 1.0})
        ran = []
        for _ in range(3):
            result = await plane.invokes.invoke(FunctionRef("f", "live"), b"{}")
            ran.append(result.executed_version)
        return ran

    assert run(go()) == ["2", "2", "2"]  # weight 1.0: always the additional version
    invoked = [e for e in plane.events if isinstance(e, Invoked)]
    assert invoked[0] == Invoked("f", "live", "2", False)
    with pytest.raises(ConstraintError, match=r"routingConfig\.additionalVersionWeights"):
        run(plane.releases.update_alias(F, "live", AliasChange(weights={"2": 1.5})))


def test_a_rollout_without_traffic_says_it_checked_nothing(plane: ControlPlane) -> None:
    async def go() -> str:
        await plane.functions.create(new_function("f"))
        await plane.releases.publish(F)
        await plane.functions.update_code(F, zip_of("def handler(e, c):\n    return 2\n"))
        await plane.releases.publish(F)
        await plane.releases.create_alias(F, "live", "1")
        rollout = await plane.rollouts.start(RolloutPlan("f", "live", "2", (100,), 0))
        return rollout.reason

    assert "no invocation of it was seen during the rollout" in run(go())
    with pytest.raises(InvalidParameterValueException, match="Steps must be increasing"):
        RolloutPlan("f", "live", "2", (50, 20)).check()


def test_unknown_references_are_not_found(plane: ControlPlane) -> None:
    with pytest.raises(ResourceNotFoundException):
        plane.catalog.get(FunctionRef("nope"))
    with pytest.raises(ResourceNotFoundException):
        run(plane.invokes.invoke(FunctionRef("nope"), b"{}"))
