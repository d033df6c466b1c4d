"""The policy reports: queries over the hourly rollups (raw readings for bins), maths from
api.analysis, shaped into the response models."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from api.aggregation import Agg, AggregateRequest, GroupBy, SensorFilter, Source
from api.analysis import air, bins, energy, mobility
from api.analysis.periods import percent_change, previous_period
from api.answers.aggregates import Limits, answer
from api.queries import policy as sql
from api.queries.aggregates import select_sensors
from api.schemas import (
    AirQualityReport,
    AirStandard,
    BinStatus,
    CleanlinessReport,
    DailyEnergy,
    DailyModeCount,
    DistrictDay,
    DistrictEnergy,
    DistrictHours,
    EnergyReport,
    Exceedance,
    HourlyModeCount,
    MobilityReport,
    ModeTotal,
    PeakHour,
    SensorDay,
    SensorEnergy,
)
from api.timebuckets import parse_bucket

CITY = "all"  # the district name of city-wide figures


async def _sensors(
    conn: asyncpg.Connection, districts: Sequence[str], include_private: bool
) -> tuple[list[str], list[str | None]]:
    rows = await select_sensors(conn, list(districts), [], [], None, include_private)
    return [r["id"] for r in rows], [r["district"] for r in rows]


# Mobility ---------------------------------------------------------------------------------

def _mode_sums(rows: Sequence[asyncpg.Record], column: str = "total") -> dict[tuple[str | None, str], float]:
    totals: dict[tuple[str | None, str], float] = defaultdict(float)
    for r in rows:
        totals[(r["grp"], r["metric"])] += r[column]
        totals[(CITY, r["metric"])] += r[column]
    return totals


async def mobility_report(
    conn: asyncpg.Connection, tz: ZoneInfo, start: datetime, end: datetime, districts: Sequence[str],
    include_private: bool,
) -> MobilityReport:
    ids, groups = await _sensors(conn, districts, include_private)
    prev_start, prev_end = previous_period(start, end)
    low = mobility.LOW_UPTIME
    rows = await sql.hourly_sums_local(conn, ids, groups, mobility.MODES, start, end, tz.key, low)
    prev_rows = await sql.hourly_sums_local(conn, ids, groups, mobility.MODES, prev_start, prev_end, tz.key, low)
    days = (end - start) / timedelta(days=1)

    daily: dict[tuple[date, str | None, str], float] = defaultdict(float)
    hourly: dict[tuple[int, str | None, str], float] = defaultdict(float)
    # The same sums over the low-uptime hours only: flagged beside each count, not hidden in it.
    daily_low: dict[tuple[date, str | None, str], float] = defaultdict(float)
    hourly_low: dict[tuple[int, str | None, str], float] = defaultdict(float)
    for r in rows:
        local: datetime = r["local_hour"]
        for district in (r["grp"], CITY):
            daily[(local.date(), district, r["metric"])] += r["total"]
            hourly[(local.hour, district, r["metric"])] += r["total"]
            daily_low[(local.date(), district, r["metric"])] += r["low"]
            hourly_low[(local.hour, district, r["metric"])] += r["low"]

    current, previous = _mode_sums(rows), _mode_sums(prev_rows)
    current_low = _mode_sums(rows, "low")
    keys = sorted(set(current) | set(previous), key=lambda k: (k[0] is None, k[0] or "", k[1]))
    district_names = sorted({k[0] for k in keys}, key=lambda d: (d is None, d or ""))
    totals: list[ModeTotal] = []
    peaks: list[PeakHour] = []
    for district in district_names:
        split = mobility.modal_split({m: current.get((district, m), 0.0) for m in mobility.MODES})
        for mode in mobility.MODES:
            now, before = current.get((district, mode), 0.0), previous.get((district, mode), 0.0)
            totals.append(ModeTotal(
                district=district, mode=mode, count=now, low_uptime=current_low.get((district, mode), 0.0),
                previous=before,
                change_pct=percent_change(now, before), share_pct=split[mode],
            ))
            by_hour = {h: hourly.get((h, district, mode), 0.0) for h in range(24)}
            best = mobility.peak_hour(by_hour)
            peaks.append(PeakHour(district=district, mode=mode, hour=best[0] if best else None,
                                  count=best[1] if best else 0.0))
    return MobilityReport(
        start=start, end=end, previous_start=prev_start, previous_end=prev_end, days=days,
        daily=[DailyModeCount(day=d, district=g, mode=m, count=v, low_uptime=daily_low[(d, g, m)])
               for (d, g, m), v in sorted(
            daily.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "", kv[0][2]))],
        by_hour=[HourlyModeCount(hour=h, district=g, mode=m, count=v, low_uptime=hourly_low[(h, g, m)],
                                 per_day=v / days) for (h, g, m), v in sorted(
            hourly.items(), key=lambda kv: (kv[0][1] is None, kv[0][1] or "", kv[0][2], kv[0][0]))],
        peak_hours=peaks,
        totals=totals,
    )


# Cleanliness ------------------------------------------------------------------------------

async def cleanliness_report(
    conn: asyncpg.Connection, at: datetime, threshold: float, lookback: timedelta, overflow_level: float,
    districts: Sequence[str], include_private: bool,
) -> CleanlinessReport:
    ids, groups = await _sensors(conn, districts, include_private)
    district_of = dict(zip(ids, groups, strict=True))
    series: dict[str, tuple[list[datetime], list[float]]] = {}
    for r in await sql.raw_series(conn, ids, "fill_level", at - lookback, at):
        ts, vs = series.setdefault(r["sensor_id"], ([], []))
        ts.append(r["time"])
        vs.append(r["value"])
    statuses: list[BinStatus] = []
    for sensor_id, (ts, vs) in series.items():
        fc = bins.forecast_fill(ts, vs, at)
        statuses.append(BinStatus(
            sensor_id=sensor_id, district=district_of.get(sensor_id), fill_level=vs[-1], time=ts[-1],
            above_threshold=vs[-1] >= threshold, emptied_at=fc.emptied_at, fill_rate_per_hour=fc.rate_per_hour,
            hours_to_full=fc.hours_to_full, full_at=fc.full_at,
        ))
    statuses.sort(key=lambda b: (*bins.urgency_key(b.fill_level, b.hours_to_full, threshold), b.sensor_id))
    hour = at.replace(minute=0, second=0, microsecond=0)
    o_start, o_end = hour - lookback, hour + timedelta(hours=1)
    overflow = await sql.hours_at_or_above(conn, ids, groups, "fill_level", overflow_level, o_start, o_end)
    return CleanlinessReport(
        at=at, threshold=threshold, bins_above=sum(b.above_threshold for b in statuses),
        collection_list=statuses,
        overflow_hours=sorted((DistrictHours(district=r["grp"], hours=r["hours"]) for r in overflow),
                              key=lambda d: (d.district is None, d.district or "")),
        overflow_from=o_start, overflow_to=o_end,
    )


# Energy -----------------------------------------------------------------------------------

async def energy_report(
    conn: asyncpg.Connection, tz: ZoneInfo, max_rows: int, start: datetime, end: datetime,
    districts: Sequence[str], include_private: bool,
) -> EnergyReport:
    flt = SensorFilter(districts=tuple(districts), include_private=include_private)
    limits = Limits(max_rows=max_rows, tz=tz)
    per_day: dict[GroupBy, list[DailyEnergy]] = {}
    for group_by in (GroupBy.SENSOR, GroupBy.DISTRICT):
        req = AggregateRequest("energy_import", parse_bucket("day"), Agg.INCREASE, group_by, start, end, flt)
        ans = await answer(conn, req, Source.AUTO, limits)
        per_day[group_by] = [
            DailyEnergy(day=r.bucket.astimezone(tz).date(), group=r.group, kwh=r.value or 0.0) for r in ans.rows
        ]
    kwh_of: dict[str | None, float] = defaultdict(float)
    for d in per_day[GroupBy.SENSOR]:
        kwh_of[d.group] += d.kwh
    district_kwh: dict[str | None, float] = defaultdict(float)
    for d in per_day[GroupBy.DISTRICT]:
        district_kwh[d.group] += d.kwh

    ids, groups = await _sensors(conn, districts, include_private)
    district_of = dict(zip(ids, groups, strict=True))
    hours = await sql.hourly_stats(conn, ids, "power", start, end, tz.key)
    nightly: dict[str, dict[date, float]] = defaultdict(dict)
    peaks: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    demand: dict[str | None, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    local_of: dict[datetime, datetime] = {}
    for r in hours:
        sensor_id, local = r["sensor_id"], r["local_hour"]
        if local.hour in energy.NIGHT_HOURS:
            night = nightly[sensor_id]
            night[local.date()] = min(night.get(local.date(), r["min"]), r["min"])
        peaks[sensor_id].append((r["bucket"], r["max"]))
        demand[district_of.get(sensor_id)][r["bucket"]] += r["mean"]
        local_of[r["bucket"]] = local

    sensors: list[SensorEnergy] = []
    base_of: dict[str, float] = {}
    for sensor_id in sorted(set(kwh_of) | set(peaks), key=lambda s: s or ""):
        if sensor_id is None:
            continue
        base = energy.base_load(nightly[sensor_id].values())
        if base is not None:
            base_of[sensor_id] = base
        top = energy.peak(peaks[sensor_id])
        sensors.append(SensorEnergy(
            sensor_id=sensor_id, district=district_of.get(sensor_id), kwh=kwh_of.get(sensor_id),
            base_load_w=base, peak_w=top[1] if top else None, peak_hour=top[0] if top else None,
        ))
    district_rows: list[DistrictEnergy] = []
    for district in sorted(set(district_kwh) | set(demand), key=lambda d: (d is None, d or "")):
        loads = [b for s, b in base_of.items() if district_of.get(s) == district]
        top = energy.peak(demand[district].items())
        district_rows.append(DistrictEnergy(
            district=district, kwh=district_kwh.get(district, 0.0),
            base_load_w=sum(loads) if loads else None,
            peak_demand_w=top[1] if top else None, peak_hour=top[0] if top else None,
            profile_w=energy.hourly_profile((local_of[b], v) for b, v in demand[district].items()),
        ))
    return EnergyReport(
        start=start, end=end, daily_by_sensor=per_day[GroupBy.SENSOR], daily_by_district=per_day[GroupBy.DISTRICT],
        sensors=sensors, districts=district_rows,
    )


# Air quality ------------------------------------------------------------------------------

async def air_quality_report(
    conn: asyncpg.Connection, tz: ZoneInfo, start: datetime, end: datetime, districts: Sequence[str],
    include_private: bool, min_hours: int = air.MIN_HOURS,
) -> AirQualityReport:
    ids, groups = await _sensors(conn, districts, include_private)
    district_of = dict(zip(ids, groups, strict=True))
    rows = await sql.daily_means_of_hourly_means(conn, ids, air.AIR_METRICS, start, end, tz.key)
    sensor_days = [
        SensorDay(day=r["day"].date(), sensor_id=r["sensor_id"], district=district_of.get(r["sensor_id"]),
                  metric=r["metric"], mean=r["mean"], hours=r["hours"], valid=air.valid_day(r["hours"], min_hours))
        for r in rows
    ]
    per_district: dict[tuple[date, str | None, str], list[float]] = defaultdict(list)
    for d in sensor_days:
        key = (d.day, d.district, d.metric)
        per_district.setdefault(key, [])
        if d.valid:
            per_district[key].append(d.mean)
    district_days = [
        DistrictDay(day=day, district=district, metric=metric, mean=air.mean_of(means), sensors=len(means))
        for (day, district, metric), means in sorted(
            per_district.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "", kv[0][2]))
    ]
    exceedances: list[Exceedance] = []
    for std in air.STANDARDS:
        by_sensor: dict[str, list[float | None]] = defaultdict(list)
        for d in sensor_days:
            if d.metric == std.metric:
                by_sensor[d.sensor_id].append(d.mean if d.valid else None)
        for sensor_id, means in sorted(by_sensor.items()):
            exceedances.append(Exceedance(
                scope="sensor", id=sensor_id, metric=std.metric, standard=std.name, limit=std.limit,
                days=air.exceedance_days(means, std.limit), valid_days=sum(m is not None for m in means),
            ))
        by_district: dict[str | None, list[float | None]] = defaultdict(list)
        for dd in district_days:
            if dd.metric == std.metric:
                by_district[dd.district].append(dd.mean)
        for district, dmeans in sorted(by_district.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            exceedances.append(Exceedance(
                scope="district", id=district, metric=std.metric, standard=std.name, limit=std.limit,
                days=air.exceedance_days(dmeans, std.limit), valid_days=sum(m is not None for m in dmeans),
            ))
    return AirQualityReport(
        start=start, end=end,
        standards=[AirStandard(name=s.name, metric=s.metric, limit=s.limit, allowed_per_year=s.allowed_per_year,
                               source=s.source) for s in air.STANDARDS],
        sensor_days=sensor_days, district_days=district_days, exceedances=exceedances,
    )
