"""The SQL of alerts: rules, states, the notifications owed, and the values threshold rules read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

RULE_COLUMNS = ('id, name, metric, op, threshold, "window", agg, for_s, problem, kinds, districts, sensors, webhook, '
                'created_at')
AGGS = ("avg", "min", "max", "sum", "count")


def _filter(first: int) -> str:
    """A rule's filters on `sensors s`, its kinds, districts and sensors as parameters from $first on."""
    k, d, s = first, first + 1, first + 2
    return (f"(${k}::text[] IS NULL OR s.kind = ANY(${k})) AND (${d}::text[] IS NULL OR s.district = ANY(${d})) "
            f"AND (${s}::text[] IS NULL OR s.id = ANY(${s}))")


_FILTER = _filter(2)
# The latest value of a rule without a window: from the rollups of the last two hours.
_LATEST_BACK = timedelta(hours=2)


async def insert_rule(conn: asyncpg.Connection, rule: dict[str, Any]) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        'INSERT INTO alert_rules (name, metric, op, threshold, "window", agg, for_s, problem, kinds, districts, '
        f"sensors, webhook) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {RULE_COLUMNS}",
        rule["name"], rule.get("metric"), rule.get("op"), rule.get("threshold"), rule.get("window"),
        rule.get("agg"), rule.get("for_s") or 0.0, rule.get("problem"), rule.get("kind"), rule.get("district"),
        rule.get("sensor"), rule.get("webhook"),
    )
    return row


async def rules(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(f"SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id")
    return rows


async def delete_rule(conn: asyncpg.Connection, rule_id: int) -> bool:
    deleted: str = await conn.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return deleted.endswith(" 1")


async def firing(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT a.rule_id, r.name AS rule, a.sensor_id, a.since, a.value, a.detail FROM alert_states a "
        "JOIN alert_rules r ON r.id = a.rule_id WHERE a.state = 'firing' ORDER BY a.since, a.rule_id, a.sensor_id"
    )
    return rows


async def states(conn: asyncpg.Connection, rule_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT sensor_id, state, since, value, detail, clear_runs FROM alert_states WHERE rule_id = $1", rule_id)
    return rows


async def covered(conn: asyncpg.Connection, rule: asyncpg.Record) -> list[str]:
    rows = await conn.fetch(f"SELECT s.id FROM sensors s WHERE {_filter(1)}",
                            rule["kinds"], rule["districts"], rule["sensors"])
    return [r["id"] for r in rows]


async def threshold_values(conn: asyncpg.Connection, rule: asyncpg.Record, now: datetime) -> dict[str, float]:
    """Per covered sensor: the metric's latest value (no window), or its `agg` over the window."""
    if rule["window"] is None:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (h.sensor_id) h.sensor_id, h.last_value AS v FROM readings_hourly h "
            f"JOIN sensors s ON s.id = h.sensor_id WHERE h.metric = $1 AND h.bucket >= $5 AND {_FILTER} "
            "ORDER BY h.sensor_id, h.bucket DESC",
            rule["metric"], rule["kinds"], rule["districts"], rule["sensors"], now - _LATEST_BACK,
        )
    else:
        agg = rule["agg"] or "avg"
        if agg not in AGGS:
            raise ValueError(f"unknown agg {agg!r}")
        rows = await conn.fetch(
            f"SELECT r.sensor_id, {agg}(r.value)::float8 AS v FROM readings r JOIN sensors s ON s.id = r.sensor_id "
            f"WHERE r.metric = $1 AND r.time >= $5 AND r.time <= $6 AND {_FILTER} GROUP BY r.sensor_id",
            rule["metric"], rule["kinds"], rule["districts"], rule["sensors"],
            now - timedelta(seconds=rule["window"]), now,
        )
    return {r["sensor_id"]: r["v"] for r in rows}


async def store_transitions(
    conn: asyncpg.Connection, rule_id: int, upserts: list[tuple[str, str, datetime, float | None, str, int]],
    deletes: list[str], notifications: list[tuple[str, str, str, str | None]],
) -> None:
    """One transaction: the new states and the notifications they owe."""
    async with conn.transaction():
        if deletes:
            await conn.execute("DELETE FROM alert_states WHERE rule_id = $1 AND sensor_id = ANY($2)", rule_id, deletes)
        if upserts:
            await conn.executemany(
                "INSERT INTO alert_states (rule_id, sensor_id, state, since, value, detail, clear_runs) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule_id, sensor_id) DO UPDATE SET "
                "state = excluded.state, since = excluded.since, value = excluded.value, detail = excluded.detail, "
                "clear_runs = excluded.clear_runs",
                [(rule_id, *u) for u in upserts],
            )
        if notifications:
            await conn.executemany(
                "INSERT INTO alert_notifications (rule_id, sensor_id, state, body, webhook, webhook_done) "
                "VALUES ($1, $2, $3, $4, $5::text, $5::text IS NULL)",
                [(rule_id, *n) for n in notifications],
            )


async def due_notifications(conn: asyncpg.Connection, now: datetime, limit: int = 100) -> list[asyncpg.Record]:
    """Undelivered notifications whose time has come, each only after the earlier ones of its
    (rule, sensor): a resolved never overtakes its firing."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT n.* FROM alert_notifications n WHERE NOT (n.webhook_done AND n.mqtt_done) AND n.next_at <= $1 "
        "AND NOT EXISTS (SELECT 1 FROM alert_notifications o WHERE o.rule_id = n.rule_id "
        "AND o.sensor_id = n.sensor_id AND o.id < n.id AND NOT (o.webhook_done AND o.mqtt_done)) "
        "ORDER BY n.id LIMIT $2",
        now, limit,
    )
    return rows


async def mark(conn: asyncpg.Connection, notification_id: int, webhook_done: bool, mqtt_done: bool,
               retry_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE alert_notifications SET webhook_done = $2, mqtt_done = $3, attempts = attempts + $4::int, "
        "next_at = coalesce($5, next_at) WHERE id = $1",
        notification_id, webhook_done, mqtt_done, 1 if retry_at is not None else 0, retry_at,
    )
