"""The metrics as Prometheus scrapes them: counters, gauges and summaries since the server
started, per function, queue, topic and bucket (the same series CloudWatch's API serves)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from firebox.metrics.recorder import Recorder
from firebox.metrics.series import SeriesKey

# The dimensions a namespace's series are exposed by (other combinations are CloudWatch's).
PRIMARY = {
    "AWS/Lambda": (("FunctionName",), ("EventSourceMappingUUID",), ()),
    "AWS/SQS": (("QueueName",),),
    "AWS/SNS": (("TopicName",),),
    "AWS/S3": (("BucketName", "StorageType"),),
}
GAUGES = {
    "ConcurrentExecutions", "UnreservedConcurrentExecutions", "ProvisionedConcurrencyUtilization",
    "ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage", "NumberOfObjects",
    "BucketSizeBytes",
}  # fmt: skip
SUMMARIES = {"Duration", "AsyncEventAge", "SentMessageSize", "PublishSize"}
UNIT_SUFFIX = {"Milliseconds": "_milliseconds", "Seconds": "_seconds", "Bytes": "_bytes"}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def family_name(key: SeriesKey, unit: str) -> str:
    """firebox_<service>_<metric>[_unit]; the account's own totals as firebox_<service>_account_…"""
    service = key.namespace.split("/", 1)[1].lower()
    scope = "" if key.dimensions else "account_"
    return f"firebox_{service}_{scope}{_snake(key.name)}{UNIT_SUFFIX.get(unit, '')}"


class FireboxCollector(Collector):
    """Reads the recorder's running totals at each scrape."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def collect(self) -> Iterator[Metric]:
        self.recorder.expand()
        families: dict[str, Metric] = {}
        for key, (count, total, last) in sorted(self.recorder.totals.items()):
            names = tuple(n for n, _v in key.dimensions)
            if names not in PRIMARY.get(key.namespace, ()):
                continue
            unit = self.recorder.units.get(key, "None")
            name = family_name(key, unit)
            labels = [_snake(n) for n in names]
            values = [v for _n, v in key.dimensions]
            help_text = f"{key.namespace} {key.name} ({unit})"
            family = families.get(name)
            if family is None:
                if key.name in GAUGES:
                    family = GaugeMetricFamily(name, help_text, labels=labels)
                elif key.name in SUMMARIES:
                    family = SummaryMetricFamily(name, help_text, labels=labels)
                else:
                    family = CounterMetricFamily(name, help_text, labels=labels)
                families[name] = family
            if len(family.samples) and family.samples[0].labels.keys() != set(labels):
                continue  # one family, one set of labels
            if isinstance(family, GaugeMetricFamily):
                family.add_metric(values, last)
            elif isinstance(family, SummaryMetricFamily):
                family.add_metric(values, int(count), total)
            else:
                assert isinstance(family, CounterMetricFamily)
                family.add_metric(values, total)
        yield from families.values()


def registry(recorder: Recorder) -> CollectorRegistry:
    """A registry of firebox's metrics alone (no client-library defaults)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(FireboxCollector(recorder))
    return found
