"""`citysense simulate --via http`: the fleet's LoRaWAN uplinks, airrohr pushes and SenML/JSON packs
POSTed to the API's push endpoints (`/api/v1/ingest/{source}`) the way The Things Stack's webhooks,
ChirpStack's HTTP integration and the airrohr firmware send them, bodies unchanged. Devices that only
speak MQTT (Tasmota, Shelly, Zigbee2MQTT, DSMR, Telraam's topic) still publish over MQTT.

`request_for` (which path and headers an event gets) is pure; HttpSink does the I/O.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import httpx

from citysense.api_keys import ApiKeys, Scope
from simulators.plan import Event
from simulators.publisher import Sink

JSON = "application/json"
_CONNECTIONS = 32  # keep-alive connections to the API
_RETRIES_503 = 30  # Retry-After waits before giving up on an event (the broker behind the API is away)


class PushRefused(RuntimeError):
    """The API will not take what we send (a refused key, an unexpected answer): the run stops."""


@dataclass(frozen=True, slots=True)
class PushRequest:
    path: str
    headers: dict[str, str]


def request_for(event: Event) -> PushRequest | None:
    """The POST a real sender would make for this event; None for a device that only speaks MQTT."""
    fmt, topic = event.format, event.topic
    if fmt == "ttn":
        return PushRequest("/api/v1/ingest/ttn", {"content-type": JSON})
    if fmt == "chirpstack":
        return PushRequest("/api/v1/ingest/chirpstack?event=up", {"content-type": JSON})
    if fmt == "sensor-community":  # airrohr/<esp8266-chip id>: the firmware names itself in X-Sensor
        return PushRequest("/api/v1/ingest/sensor-community",
                           {"content-type": JSON, "x-sensor": topic.partition("/")[2]})
    if fmt == "senml":
        return PushRequest("/api/v1/ingest/senml", {"content-type": "application/senml+json"})
    if fmt == "json":
        return PushRequest(f"/api/v1/ingest/json/{topic.rpartition('/')[2]}", {"content-type": JSON})
    return None


def ingest_key(keys: ApiKeys) -> str | None:
    """The first key of CITYSENSE_API_KEYS with the ingest scope: the default of --api-key."""
    return next((key for key, scope in keys.by_key.items() if scope is Scope.INGEST), None)


class HttpSink:
    """Events with an HTTP path are POSTed (keep-alive); the rest go to `mqtt`."""

    def __init__(self, api_url: str, api_key: str, mqtt: Sink) -> None:
        self.api_url = api_url.rstrip("/")
        self.mqtt = mqtt
        self.http = httpx.AsyncClient(
            base_url=self.api_url, headers={"x-api-key": api_key}, timeout=30,
            limits=httpx.Limits(max_connections=_CONNECTIONS, max_keepalive_connections=_CONNECTIONS),
        )
        self.answers: Counter[int] = Counter()  # HTTP status -> count (422: refused by the decoder)

    async def open(self) -> None:
        await self.mqtt.open()

    async def send(self, event: Event) -> None:
        request = request_for(event)
        if request is None:
            await self.mqtt.send(event)
            return
        for _ in range(_RETRIES_503):
            try:
                answer = await self.http.post(request.path, content=event.payload, headers=request.headers)
            except httpx.TransportError as exc:
                raise PushRefused(f"cannot reach the API at {self.api_url}: {exc!r}") from None
            status = answer.status_code
            if status == 503:
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                continue
            self.answers[status] += 1
            if status in (200, 202, 422):  # 422: a malformed payload, refused and dead-lettered as it should be
                return
            if status in (401, 403):
                raise PushRefused(
                    f"the API at {self.api_url} refused the key (HTTP {status}: {_detail(answer)}); pass a key "
                    "with the ingest scope (--api-key, or an entry key:ingest in CITYSENSE_API_KEYS)")
            raise PushRefused(f"the API answered {request.path} with HTTP {status}: {_detail(answer)}")
        raise PushRefused(f"the API kept answering 503 for {request.path}: is its broker down?")

    async def close(self) -> None:
        await self.http.aclose()
        await self.mqtt.close()

    def lines(self) -> list[str]:
        answers = ", ".join(f"{status} x{n}" for status, n in sorted(self.answers.items()))
        return [f"  HTTP push to {self.api_url}: {answers or 'nothing posted'}"]


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.text))
    except ValueError:
        return answer.text[:200]
