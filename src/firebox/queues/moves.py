"""StartMessageMoveTask and friends: a dead-letter queue's messages sent back, as a task."""

from __future__ import annotations

import asyncio
import base64
import builtins
import json
import uuid
from dataclasses import dataclass

from firebox.queues.errors import SqsError, invalid, invalid_value
from firebox.queues.queue import Queue
from firebox.queues.service import QueueService


@dataclass
class MoveTask:
    """A StartMessageMoveTask: messages of a dead-letter queue going back."""

    handle: str
    source: str  # ARN
    destination: str | None  # ARN; None: each message's own source
    rate: int | None
    started: float
    to_move: int
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    task: asyncio.Task[None] | None = None


def _missing(parameter: str) -> SqsError:
    return SqsError("ResourceNotFoundException", f"The resource that you specified for the "
                    f"{parameter} parameter doesn't exist.")  # fmt: skip


class MessageMoves:
    """The move tasks of a server's queues (kept in memory: see docs/compatibility.md)."""

    def __init__(self, queues: QueueService) -> None:
        self.queues = queues
        self._tasks: dict[str, MoveTask] = {}

    def start(self, source_arn: str, destination_arn: str | None, rate: int | None) -> MoveTask:
        queues = self.queues
        source = queues.by_arn(source_arn)
        if source is None:
            raise _missing("SourceArn")
        if not queues.dead_letter_sources(source):
            raise invalid("Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None and queues.by_arn(destination_arn) is None:
            raise _missing("DestinationArn")
        if rate is not None and not 1 <= rate <= 500:
            raise invalid_value("MaxNumberOfMessagesPerSecond", rate, "Must be between 1 and 500")
        if any(t.source == source_arn and t.status == "RUNNING" for t in self._tasks.values()):
            message = ("There is already a task running. Only one active task is allowed for a "
                       "source queue arn at a given time.")  # fmt: skip
            raise SqsError("UnsupportedOperation", message)
        ticket = {"taskId": str(uuid.uuid4()), "sourceArn": source_arn}
        handle = base64.b64encode(json.dumps(ticket).encode()).decode()
        task = MoveTask(handle, source_arn, destination_arn, rate, queues.clock(),
                        len(source.messages))  # fmt: skip
        self._tasks[handle] = task
        task.task = asyncio.get_running_loop().create_task(self._move(task, source))
        return task

    async def _move(self, task: MoveTask, source: Queue) -> None:
        queues = self.queues
        try:
            for seq in list(source.messages):
                if task.status != "RUNNING":
                    break
                message = source.messages.get(seq)
                if message is None:
                    continue
                back = task.destination or message.system.get("DeadLetterQueueSourceArn")
                target = queues.by_arn(back) if back else None
                if target is None:
                    continue
                system = {k: v for k, v in message.system.items()
                          if k != "DeadLetterQueueSourceArn"}  # fmt: skip
                if await queues.transfer(source, seq, target, system):
                    task.moved += 1
                    if task.rate:
                        await asyncio.sleep(1 / task.rate)
            if task.status == "RUNNING":
                task.status = "COMPLETED"
            elif task.status == "CANCELLING":
                task.status = "CANCELLED"
        except Exception as exc:  # e.g. the disk: the task says so instead of vanishing
            task.status, task.failure = "FAILED", str(exc)

    def list(self, source_arn: str) -> builtins.list[MoveTask]:
        if self.queues.by_arn(source_arn) is None:
            raise _missing("SourceArn")
        found = [t for t in self._tasks.values() if t.source == source_arn]
        return sorted(found, key=lambda t: t.started, reverse=True)

    def cancel(self, handle: str) -> MoveTask:
        task = self._tasks.get(handle)
        if task is None:
            raise SqsError("ResourceNotFoundException", "Task does not exist.")
        if task.status != "RUNNING":
            raise SqsError("UnsupportedOperation", f"Task is in {task.status} state and can "
                           "not be cancelled.")  # fmt: skip
        task.status = "CANCELLING"
        return task

    def close(self) -> None:
        for task in self._tasks.values():
            if task.task is not None:
                task.task.cancel()
