"""What is sampled rather than counted: queue depths, bucket sizes, provisioned time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firebox.metrics.lambda_metrics import BILLING
from firebox.metrics.recorder import Recorder
from firebox.metrics.series import SeriesKey

SQS = "AWS/SQS"
S3 = "AWS/S3"
QUEUE_GAUGES = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}


@dataclass(frozen=True)
class Provisioned:
    """One provisioned concurrency config, as billing charges it."""

    function: str
    qualifier: str
    environments: int
    memory_mb: int
    architecture: str


class Gauges:
    """Samples, once a minute (S3's sizes once an hour), what no event tells."""

    def __init__(
        self,
        recorder: Recorder,
        queues: Callable[[], Iterable[tuple[str, dict[str, str], float | None]]],
        buckets: Callable[[], Iterable[tuple[str, int, int]]],
        provisioned: Callable[[], Iterable[Provisioned]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recorder = recorder
        self.queues = queues  # (name, its Approximate* attributes, oldest message's age in s)
        self.buckets = buckets  # (name, objects, bytes)
        self.provisioned = provisioned
        self.clock = clock
        self._last_minute = 0.0
        self._last_hour = 0.0

    async def sample(self, now: float) -> float:
        """Samples what is due at `now`; returns when to sample next."""
        put = self.recorder.put
        if self._last_minute:
            # Provisioned concurrency is billed for the time it is configured.
            seconds = min(now - self._last_minute, 120.0)
            for p in self.provisioned():
                dims = {"FunctionName": p.function, "Architecture": p.architecture}
                put(SeriesKey.of(BILLING, "ProvisionedGBSeconds", dims),
                    p.environments * p.memory_mb / 1024 * seconds, "None", now)  # fmt: skip
        self._last_minute = now
        for name, attributes, oldest in self.queues():
            dims = {"QueueName": name}
            for metric, attribute in QUEUE_GAUGES.items():
                put(SeriesKey.of(SQS, metric, dims), float(attributes.get(attribute, 0)),
                    "Count", now)  # fmt: skip
            put(SeriesKey.of(SQS, "ApproximateAgeOfOldestMessage", dims), oldest or 0.0,
                "Seconds", now)  # fmt: skip
        if now - self._last_hour >= 3600:
            self._last_hour = now
            for bucket, count, size in await asyncio.to_thread(self.buckets):  # (a table scan)
                put(SeriesKey.of(S3, "NumberOfObjects",
                                 {"BucketName": bucket, "StorageType": "AllStorageTypes"}),
                    count, "Count", now)  # fmt: skip
                put(SeriesKey.of(S3, "BucketSizeBytes",
                                 {"BucketName": bucket, "StorageType": "StandardStorage"}),
                    size, "Bytes", now)  # fmt: skip
        return now + 60.0
