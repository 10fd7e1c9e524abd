"""Where S3 notifications go: checking a configuration's destinations as S3 does when it is
put, and handing each notification to its function's Event queue or to its SQS queue."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from firebox.domain.arns import parse_function_ref
from firebox.domain.errors import LambdaError
from firebox.iam.policy import Principal
from firebox.objects import notifications
from firebox.objects.delivery import Undeliverable
from firebox.objects.notifications import Rule
from firebox.objects.records import Notice
from firebox.queues.errors import SqsError
from firebox.queues.service import Outgoing
from firebox.topics.errors import SnsError
from firebox.topics.records import Message

if TYPE_CHECKING:
    from firebox.asyncinvoke.invoker import AsyncInvoker
    from firebox.control.catalog import Catalog
    from firebox.control.policies import FunctionPolicies
    from firebox.queues.service import QueueService
    from firebox.topics.service import TopicService

log = logging.getLogger("firebox.s3")
S3 = Principal("Service", "s3.amazonaws.com")


class S3Targets:
    """The destinations of bucket notifications: functions and queues."""

    def __init__(
        self, catalog: Catalog, policies: FunctionPolicies, invoker: AsyncInvoker,
        queues: QueueService, account: str, topics: TopicService | None = None,
    ) -> None:  # fmt: skip
        self.catalog = catalog
        self.policies = policies
        self.invoker = invoker
        self.queues = queues
        self.account = account
        self.topics = topics

    def check(self, bucket: str, rules: list[Rule]) -> None:
        """InvalidArgument naming each destination that does not exist or does not let S3
        send to it (a function's resource policy must allow s3.amazonaws.com for this
        bucket, as on AWS; a queue need only exist: queue policies are not evaluated)."""
        failures: list[tuple[str, str]] = []
        source = f"arn:aws:s3:::{bucket}"
        for rule in rules:
            if rule.kind == "lambda":
                try:
                    ref = parse_function_ref(rule.target)
                    self.catalog.deployed(ref)
                except LambdaError:
                    failures.append((rule.target, "The destination function does not exist"))
                    continue
                if not self.policies.allows(ref.name, ref.qualifier, S3, source, self.account):
                    failures.append((rule.target, f"Not authorized to invoke function "
                                                  f"[{rule.target}]"))  # fmt: skip
            elif rule.kind == "sqs":
                if self.queues.by_arn(rule.target) is None:
                    failures.append((rule.target, "The destination queue does not exist"))
            elif not self._topic_exists(rule.target):
                failures.append((rule.target, "The destination topic does not exist"))
            elif rule.target.endswith(".fifo"):  # as S3: its events go to standard topics
                failures.append((rule.target, "FIFO SNS topics are not supported as S3 event "
                                              "destinations"))  # fmt: skip
        if failures:
            raise notifications.unvalidated(failures)

    def _topic_exists(self, arn: str) -> bool:
        if self.topics is None:
            return False
        try:
            self.topics.topic(arn)
        except SnsError:
            return False
        return True

    async def send(self, notice: Notice) -> None:
        """Hands one notification over (durably); Undeliverable if its target is gone."""
        if notice.kind == "lambda":
            ref = parse_function_ref(notice.target)
            # The chain's length travels in the trace header, as Lambda's loop detection does.
            trace = f"Root=1-00000000-{'0' * 24};Sampled=0;Lineage=00000000:{notice.lineage + 1}"
            try:
                await self.invoker.accept(ref, notice.body.encode(), trace_id=trace)
            except LambdaError as exc:
                raise Undeliverable(exc.message) from None
            return
        if notice.kind == "sns":
            if self.topics is None or not self._topic_exists(notice.target):
                raise Undeliverable("the topic does not exist")
            message = Message(notice.body, "Amazon S3 Notification")
            try:
                await self.topics.publish(notice.target, message)
            except SnsError as exc:  # the topic refuses it: retrying would not change that
                raise Undeliverable(exc.message) from None
            return
        queue = self.queues.by_arn(notice.target)
        if queue is None:
            raise Undeliverable("the queue does not exist")
        sent = await self.queues.send(queue, [Outgoing(notice.body)], "s3.amazonaws.com")
        if isinstance(sent[0], SqsError):
            raise Undeliverable(sent[0].message)

    async def test_events(
        self, bucket: str, rules: list[Rule], request_id: str, now: float
    ) -> None:
        """S3's s3:TestEvent, sent to every queue a configuration names when it is put."""
        for rule in rules:
            body = notifications.test_event(bucket, request_id, now)
            queue = self.queues.by_arn(rule.target) if rule.kind == "sqs" else None
            if queue is not None:
                await self.queues.send(queue, [Outgoing(body)], "s3.amazonaws.com")
            elif rule.kind == "sns" and self.topics is not None and self._topic_exists(rule.target):
                with contextlib.suppress(SnsError):  # the configuration stands either way
                    await self.topics.publish(rule.target, Message(body, "Amazon S3 Notification"))
