"""Stand-ins for Telraam's and Sensor.Community's HTTP APIs, served from the simulated fleet (I/O).

`citysense simulate telraam-api` and `citysense simulate sensor-community-api` run them, so the
pollers can be tried without the internet; the integration tests start the same apps on a free
port. They answer in the real APIs' documented shapes:

* `POST /v1/reports/traffic` with `X-Api-Key` and `{"level":"segments","format":"per-hour",
  "id","time_start","time_end"}` → `{"status_code":200,"message":"ok","report":[…]}`; a wrong key
  is 403, a window longer than `max_window` (3 months) is 400, and past `daily_limit` calls 429 with
  `Retry-After` (seconds to the next UTC midnight), as Telraam's quota works.
* `GET /airrohr/v1/filter/area={lat},{lon},{km}` → the array of the last five minutes' records.

Every answered call is kept in `calls` (the tests read what the pollers asked for).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.api_sources import AreaSource, TelraamSource
from simulators.fleet import load_fleet

RowsFn = Callable[[str, datetime, datetime, datetime], list[dict[str, object]]]
RecordsFn = Callable[[float, float, float, datetime], list[dict[str, object]]]


def _json(doc: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json", headers=headers)


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass
class TelraamStandIn:
    rows: RowsFn
    api_key: str | None = None
    max_window: timedelta = timedelta(days=92)  # Telraam: at most 3 months per call
    daily_limit: int | None = None
    # Answer the next this-many calls with 429 and Retry-After: 1 (the tests' way to be throttled).
    throttle_next: int = 0
    calls: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    refused: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/reports/traffic", self._traffic, methods=["POST"])])

    async def _traffic(self, request: Request) -> Response:
        now = self.clock()
        if self.api_key is not None and request.headers.get("X-Api-Key") != self.api_key:
            return _json({"message": "Forbidden"}, 403)
        if self.throttle_next > 0 or (self.daily_limit is not None and len(self.calls) >= self.daily_limit):
            self.throttle_next = max(0, self.throttle_next - 1)
            self.refused += 1
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            wait = 1 if self.daily_limit is None else int((midnight - now).total_seconds()) + 1
            return _json({"message": "Too Many Requests"}, 429, {"Retry-After": str(wait)})
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"status_code": 400, "message": "body is not JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"status_code": 400, "message": "body is not a JSON object"}, 400)
        start, end = _parse_time(body.get("time_start")), _parse_time(body.get("time_end"))
        segment = str(body.get("id", ""))
        if body.get("level") != "segments" or body.get("format") != "per-hour" or start is None or end is None:
            return _json({"status_code": 400, "message": "expected level=segments, format=per-hour, "
                          "id, time_start, time_end"}, 400)
        if end - start > self.max_window:
            return _json({"status_code": 400, "message": f"window longer than {self.max_window.days} days"}, 400)
        self.calls.append((segment, start, end))
        return _json({"status_code": 200, "message": "ok", "report": self.rows(segment, start, end, now)})


@dataclass
class AreaStandIn:
    records: RecordsFn
    # The next calls are answered with these statuses instead (429 with Retry-After: 1).
    fail_next: list[int] = field(default_factory=list)
    calls: list[datetime] = field(default_factory=list)
    served: list[dict[str, object]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/airrohr/v1/filter/{area}", self._area, methods=["GET"])])

    async def _area(self, request: Request) -> Response:
        name, _, value = request.path_params["area"].partition("=")
        try:
            lat, lon, km = (float(x) for x in value.split(","))
        except ValueError:
            return _json({"detail": "area=lat,lon,km"}, 400)
        if name != "area":
            return _json({"detail": "only the area filter is simulated"}, 404)
        now = self.clock()
        self.calls.append(now)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _json({"detail": "simulated failure"}, status, {"Retry-After": "1"} if status == 429 else None)
        recs = self.records(lat, lon, km, now)
        self.served += recs
        return _json(recs)


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("api", choices=["telraam", "sensor-community"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: 8091 (telraam), 8092 (sensor-community)")
    p.add_argument("--fleet", metavar="FILE", default=None, help="fleet file (default: the packaged fleet)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same traffic")
    p.add_argument("--api-key", default=None, help="telraam: the X-Api-Key to demand (default: any)")
    p.add_argument("--daily-limit", type=int, default=None, help="telraam: calls a day before 429")


def main(args: argparse.Namespace) -> int:
    fleet = load_fleet(args.fleet)
    if args.api == "telraam":
        app = TelraamStandIn(TelraamSource(fleet, args.seed).rows, api_key=args.api_key,
                             daily_limit=args.daily_limit).app()
        port = args.port or 8091
    else:
        app = AreaStandIn(AreaSource(fleet, args.seed).records).app()
        port = args.port or 8092
    print(f"simulated {args.api} API on http://{args.host}:{port}", flush=True)
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
    return 0
