"""Keep-alive policies, driven with explicit times (no clock, no sleeps)."""

from __future__ import annotations

import random

import pytest

from firebox.worker.keepalive import FixedKeepAlive, HybridHistogramPolicy, Plan, make


def replay(policy: HybridHistogramPolicy, starts: list[float], duration: float = 1.0) -> Plan:
    plan = Plan(0.0, 0.0)
    for start in starts:
        policy.invoked("f", start)
        plan = policy.finished("f", start + duration)
    return plan


def test_fixed_keeps_every_environment_the_same_time() -> None:
    policy = FixedKeepAlive(600.0)
    policy.invoked("f", 0.0)
    assert policy.finished("f", 1.0) == Plan(0.0, 600.0)


def test_periodic_function_is_unloaded_and_prewarmed_before_its_next_call() -> None:
    policy = HybridHistogramPolicy(fallback_s=600.0)
    plan = replay(policy, [i * 1800.0 for i in range(30)])  # every 30 minutes
    # Idle ~1799 s falls in the 29–30 minute bin: pre-warm at 90 % of 29 min, keep to 33 min.
    assert plan.prewarm_after_s == 0.9 * 29 * 60
    assert plan.prewarm_after_s + plan.keep_alive_s == pytest.approx(1.1 * 30 * 60)
    assert plan.prewarm_after_s < 1799.0 < plan.prewarm_after_s + plan.keep_alive_s


def test_too_few_samples_fall_back_to_the_fixed_keep_alive() -> None:
    policy = HybridHistogramPolicy(fallback_s=600.0)
    assert replay(policy, [i * 1800.0 for i in range(5)]) == Plan(0.0, 600.0)


def test_unpredictable_and_bursty_functions_keep_the_fixed_keep_alive() -> None:
    rng = random.Random(7)
    poisson, t = [], 0.0
    for _ in range(60):
        t += rng.expovariate(1 / 3600)
        poisson.append(t)
    assert replay(HybridHistogramPolicy(fallback_s=600.0), poisson) == Plan(0.0, 600.0)
    bursts = [burst * 7200.0 + i * 3.0 for burst in range(6) for i in range(10)]
    assert replay(HybridHistogramPolicy(fallback_s=600.0), bursts) == Plan(0.0, 600.0)


def test_functions_are_learned_separately() -> None:
    policy = HybridHistogramPolicy(fallback_s=600.0)
    for i in range(30):
        policy.invoked("timer", i * 1800.0)
        policy.finished("timer", i * 1800.0 + 1)
        policy.invoked("other", i * 10.0)
        policy.finished("other", i * 10.0 + 1)
    assert policy.finished("timer", 1e6).prewarm_after_s > 0
    assert policy.finished("other", 1e6).prewarm_after_s == 0


def test_server_policies_by_name() -> None:
    assert isinstance(make("fixed", 30.0), FixedKeepAlive)
    adaptive = make("adaptive", 30.0, bin_s=0.1)
    assert isinstance(adaptive, HybridHistogramPolicy) and adaptive.range_s == 24.0
