"""One pushed payload from its bytes to its answer: routed (sources), checked with ingest's own
prepare step, then either published for ingest (202 after the PUBACK) or dead-lettered (422).

Why the API checks at all when ingest checks again: the sender must hear "no" now, with the reason, since
most senders drop a payload that was refused and nobody would look at it otherwise. Only payloads
without a single storable reading are refused; a payload with some bad readings goes to ingest, which
stores the good ones and dead-letters the rest, exactly as over MQTT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from api.push.publisher import BrokerAway, PushPublisher
from api.push.sources import Pushed, Unroutable, topic_for
from ingest.prepare import Inbound, PrepareConfig, PreparedBatch, Reject, prepare
from ingest.writer import Writer

RETRY_AFTER_S = 10
_DB_AWAY = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _unavailable(why: str) -> Answer:
    return Answer(503, {"detail": why}, {"Retry-After": str(RETRY_AFTER_S)})


@dataclass(frozen=True, slots=True)
class Intake:
    publisher: PushPublisher
    cfg: PrepareConfig
    writer: Writer  # for dead letters only: readings are ingest's to write

    async def take(self, pushed: Pushed, path: str) -> Answer:
        now = datetime.now(UTC)
        try:
            topic = topic_for(pushed)
        except Unroutable as exc:
            # No topic to name: the dead letter says where it came in instead.
            return await self._reject(PreparedBatch(rejects=[Reject(now, f"POST {path}", pushed.body,
                                                                    f"DecodeError: {exc}")]))
        batch = prepare([Inbound(topic, pushed.body, now)], self.cfg)
        if not len(batch):
            if batch.rejects:
                return await self._reject(batch)
            return Answer(200, {"status": "nothing to store", "readings": 0})
        try:
            await self.publisher.publish(topic, pushed.body)
        except BrokerAway as exc:
            return _unavailable(str(exc))
        body: dict[str, Any] = {"status": "queued", "topic": topic, "readings": len(batch)}
        if batch.rejects:
            body["rejected"] = batch.rejects[0][3]  # ingest dead-letters this part, as over MQTT
        return Answer(202, body)

    async def _reject(self, batch: PreparedBatch) -> Answer:
        try:
            await self.writer.write(batch)
        except _DB_AWAY:
            # Unrecorded, a refused payload would leave no trace: the sender is asked to come back instead.
            return _unavailable("the database is not reachable to record the refused payload")
        return Answer(422, {"detail": batch.rejects[0][3]})
