"""Request bodies and response models, named for their role."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from models.districts import District as District  # re-exported: the routes' parameters use it too
from models.metrics import Kind


def _storable_text(v: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates; refuse them here rather than as a 500 later.
    if "\x00" in v:
        raise ValueError("may not contain NUL characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return v


def _storable_json(v: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(v)
    except TypeError as exc:
        raise ValueError(f"not storable as JSON: {exc}") from None
    if b"\\u0000" in encoded:
        raise ValueError("may not contain NUL characters (jsonb cannot hold \\u0000)")
    return v


Text = Annotated[str, AfterValidator(_storable_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]


class HealthStatus(BaseModel):
    status: str
    database: str
    timescaledb: str | None = None
    live_bus: str | None = Field(default=None, description="subscribed | connecting | off")
    push: str | None = Field(default=None, description="HTTP push to the broker: connected | connecting | off "
                                                       "(off: no key has the ingest scope)")
    read_replica: str | None = Field(
        default=None, description="CITYSENSE_DATABASE_READ_URL: ok | unreachable: <error> (reads go to the "
                                  "primary meanwhile) | off")


class SensorOut(BaseModel):
    id: str
    kind: str
    source: str
    model: str | None
    district: str | None
    lat: float | None
    lon: float | None
    private: bool
    metadata: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None


class SensorList(BaseModel):
    data: list[SensorOut]


class SensorProblem(BaseModel):
    kind: str = Field(
        description="silent | late | stuck | out_of_range | rejecting | low_battery | clock_skew | low_uptime"
    )
    metric: str | None = Field(description="the metric the problem is about, when it is about one")
    detail: str
    since: datetime | None = Field(description="when the problem began, as far as the data shows")


class SensorHealth(BaseModel):
    sensor_id: str
    status: str = Field(description="ok, or the worst problem's kind")
    problems: list[SensorProblem] = Field(description="worst first")
    last_seen: datetime | None
    expected_interval_s: float | None = Field(description="learned: the median gap of its recent readings")


class SensorHealthList(BaseModel):
    data: list[SensorHealth]


class SensorFields(BaseModel):
    """The registry fields a client writes (PUT replaces all of them, PATCH any subset)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = Kind.UNKNOWN
    model: Text | None = Field(default=None, max_length=200)
    district: District | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    private: bool = False
    metadata: JsonObject = Field(default_factory=dict)


SENSOR_ID_PATTERN = r"^[A-Za-z0-9._-]+:\S{1,200}$"


class SensorCreate(SensorFields):
    id: Text = Field(
        pattern=SENSOR_ID_PATTERN, max_length=256,
        description="`<source>:<device id>`, e.g. tasmota:pow1 (docs/interface.md)",
        examples=["tasmota:pow1"],
    )


class SensorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = None
    model: Text | None = Field(default=None, max_length=200)
    district: District | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    private: bool | None = None
    metadata: JsonObject | None = None

    @field_validator("kind", "private", "metadata")
    @classmethod
    def _not_null(cls, v: object) -> object:
        # These columns are NOT NULL: leave them out to keep them, null cannot clear them.
        if v is None:
            raise ValueError("may be left out but not null")
        return v


class SensorImportResult(BaseModel):
    created: int
    updated: int


class ReadingOut(BaseModel):
    time: datetime
    metric: str
    value: float
    unit: str


class SensorReadings(BaseModel):
    sensor_id: str
    data: list[ReadingOut]
    truncated: bool = Field(description="true when more rows matched than `limit`; narrow the time range")


class LatestValue(BaseModel):
    metric: str
    value: float
    unit: str
    time: datetime


class SensorLatest(BaseModel):
    sensor_id: str
    data: list[LatestValue]


class AggregatePoint(BaseModel):
    bucket: datetime = Field(description="start of the bucket, in CITYSENSE_TIMEZONE's offset")
    group: str | None = Field(description="sensor id, district, kind, or `all` for group_by=none; "
                                          "null for sensors without a district")
    value: float | None = Field(description="null only in gap-filled buckets (fill=null)")
    count: int = Field(description="readings that went into the value")
    coverage: float | None = Field(
        default=None,
        description="only with coverage=true: received ÷ expected readings of the bucket (1 = complete), from each "
                    "sensor's learned interval; null when no sensor of the group has one")


class AggregateResult(BaseModel):
    data: list[AggregatePoint]


class OpenAggregateResult(BaseModel):
    data: list[AggregatePoint]
    suppressed: int = Field(description="rows left out because fewer than k sensors fed them")
    min_sensors: int = Field(description="k: the fewest sensors a published row may come from")


class Problem(BaseModel):
    detail: str


# GeoJSON (RFC 7946)
class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lon, lat]")


class SensorFeatureProperties(BaseModel):
    id: str
    kind: str
    district: str | None
    model: str | None
    last_seen: datetime | None
    latest: dict[str, LatestValue] = Field(description="latest value per metric (series silent for longer "
                                                       "than `within` are left out)")


class SensorFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: SensorFeatureProperties


class SensorMap(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SensorFeature]


# Policy: mobility
_LOW_UPTIME_HELP = ("the part of `count` from Telraam hours counted less than half of the time (uptime under 0.5): "
                    "Telraam extrapolates them, so they are less sure")


class ModeCount(BaseModel):
    district: str | None = Field(description="a district, `all` for the whole city, null for sensors "
                                             "without a district")
    mode: str
    count: float
    low_uptime: float = Field(description=_LOW_UPTIME_HELP)


class DailyModeCount(ModeCount):
    day: date = Field(description="local calendar day (CITYSENSE_TIMEZONE)")


class HourlyModeCount(ModeCount):
    hour: int = Field(ge=0, le=23, description="local hour of day")
    per_day: float = Field(description="count / number of days in the period")


class PeakHour(BaseModel):
    district: str | None
    mode: str
    hour: int | None = Field(description="local hour of day with the highest count; null when nothing was counted")
    count: float


class ModeTotal(BaseModel):
    district: str | None
    mode: str
    count: float
    low_uptime: float = Field(description=_LOW_UPTIME_HELP)
    previous: float = Field(description="the same count over the previous period of equal length")
    change_pct: float | None = Field(description="(count - previous) / previous x 100; null when previous is 0")
    share_pct: float | None = Field(description="modal split: this mode's share of all counted movements")


class MobilityReport(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    previous_start: datetime = Field(serialization_alias="previous_from")
    previous_end: datetime = Field(serialization_alias="previous_to")
    days: float
    daily: list[DailyModeCount]
    by_hour: list[HourlyModeCount]
    peak_hours: list[PeakHour]
    totals: list[ModeTotal]

    model_config = ConfigDict(serialize_by_alias=True)


# Policy: cleanliness
class BinStatus(BaseModel):
    sensor_id: str
    district: str | None
    fill_level: float = Field(description="latest reading, %")
    time: datetime = Field(description="time of the latest reading")
    above_threshold: bool
    emptied_at: datetime | None = Field(description="first reading after the last emptying (a drop of 20 "
                                                    "points or more) in the look-back window")
    fill_rate_per_hour: float | None = Field(description="least-squares slope since the last emptying, points/h")
    hours_to_full: float | None = Field(description="null when the bin is not filling up or too few readings")
    full_at: datetime | None


class DistrictHours(BaseModel):
    district: str | None
    hours: int


class CleanlinessReport(BaseModel):
    at: datetime
    threshold: float
    bins_above: int
    collection_list: list[BinStatus] = Field(description="every bin, most urgent first")
    overflow_hours: list[DistrictHours] = Field(description="bin-hours whose maximum fill level reached "
                                                            "`overflow_level` in [from, to), per district")
    overflow_from: datetime
    overflow_to: datetime


# Policy: energy
class DailyEnergy(BaseModel):
    day: date
    group: str | None = Field(description="sensor id or district")
    kwh: float


class SensorEnergy(BaseModel):
    sensor_id: str
    district: str | None
    kwh: float | None = Field(description="energy imported over the period (counter increase, resets handled)")
    base_load_w: float | None = Field(description="median over nights of the minimum power 00:00-05:00 local")
    peak_w: float | None
    peak_hour: datetime | None = Field(description="start of the hour holding the peak")


class DistrictEnergy(BaseModel):
    district: str | None
    kwh: float
    base_load_w: float | None = Field(description="sum of its sensors' base loads")
    peak_demand_w: float | None = Field(description="highest hourly mean power summed over its sensors")
    peak_hour: datetime | None
    profile_w: dict[str, list[float | None]] = Field(
        description="mean summed power per local hour of day (index 0-23), keys weekday and weekend"
    )


class EnergyReport(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    daily_by_sensor: list[DailyEnergy]
    daily_by_district: list[DailyEnergy]
    sensors: list[SensorEnergy]
    districts: list[DistrictEnergy]

    model_config = ConfigDict(serialize_by_alias=True)


# Policy: air quality
class AirStandard(BaseModel):
    name: str
    metric: str
    limit: float
    allowed_per_year: int | None
    source: str


class SensorDay(BaseModel):
    day: date
    sensor_id: str
    district: str | None
    metric: str
    mean: float = Field(description="mean of the hourly means, µg/m3")
    hours: int = Field(description="hours with data")
    valid: bool = Field(description="at least 18 hours with data (75 %)")


class DistrictDay(BaseModel):
    day: date
    district: str | None
    metric: str
    mean: float | None = Field(description="mean of its sensors' valid daily means")
    sensors: int


class Exceedance(BaseModel):
    scope: Literal["sensor", "district"]
    id: str | None
    metric: str
    standard: str
    limit: float
    days: int = Field(description="valid days with a daily mean above the limit")
    valid_days: int


class AirQualityReport(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    standards: list[AirStandard]
    sensor_days: list[SensorDay]
    district_days: list[DistrictDay]
    exceedances: list[Exceedance]

    model_config = ConfigDict(serialize_by_alias=True)


# Open data: bulk files
class BulkFileOut(BaseModel):
    dataset: str
    day: date = Field(description="the local day (CITYSENSE_TIMEZONE) the file holds")
    url: str
    bytes: int
    modified: datetime
    etag: str


class BulkFileList(BaseModel):
    data: list[BulkFileOut]
