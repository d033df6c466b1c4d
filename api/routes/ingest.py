"""HTTP push: `POST /api/v1/ingest/{source}` (api.push says how a payload travels on).

The API's busiest path, so its routes take the bare Request and do the access check themselves
(api.deps.check, the same decision as every other route) instead of through dependencies: FastAPI's
dependency solving cost more CPU per request than decoding and publishing the payload. The security
schemes are declared for the OpenAPI document by hand (`_SECURITY`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response

from api.auth import Scope, presented_key
from api.deps import check
from api.push.intake import Intake
from api.push.sources import CONTENT_TYPES, Pushed, Source, accepts
from api.schemas import Problem
from api.state import AppState

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
_SECURITY: dict[str, Any] = {"security": [{"APIKeyHeader": []}, {"HTTPBearer": []}]}

_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"description": "queued: the broker acknowledged the payload; ingest stores it"},
    401: {"model": Problem, "description": "no key, or a key we do not know"},
    403: {"model": Problem, "description": "a key without the ingest scope"},
    413: {"model": Problem, "description": "larger than CITYSENSE_INGEST_MAX_PAYLOAD_BYTES"},
    415: {"model": Problem, "description": "not a content type this source is sent with"},
    422: {"model": Problem, "description": "the decoder's reason; the payload is recorded in rejected_messages"},
    503: {"model": Problem, "description": "the broker (or, for a refused payload, the database) is not reachable; "
                                           "come back after Retry-After seconds"},
}
_RULES = (
    " Needs a key with the `ingest` scope (X-API-Key, Bearer, or basic auth with the key as the password). "
    "202 once the broker holds the payload, 422 with the decoder's reason (the payload is also recorded in "
    "`rejected_messages`), 413 above CITYSENSE_INGEST_MAX_PAYLOAD_BYTES, 415 for another content type, "
    "503 with Retry-After while the broker is unreachable."
)


def _intake(request: Request) -> Intake:
    """The push intake once the request's key has the ingest scope (401/403 otherwise)."""
    state: AppState = request.state.app
    headers = request.headers
    check(state, presented_key(headers.get("x-api-key"), headers.get("authorization")), Scope.INGEST)
    if state.push is None:  # no key has the ingest scope, so check() refused already; kept for the types
        raise HTTPException(503, "HTTP push is off")
    return state.push


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"payload of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"payload exceeds the limit of {limit} bytes")
    return bytes(body)


async def _push(request: Request, source: Source, x_sensor: str | None = None,
                device: str | None = None) -> Response:
    intake = _intake(request)
    if not accepts(source, request.headers.get("content-type")):
        types = " or ".join(sorted(CONTENT_TYPES[source]))
        raise HTTPException(415, f"send {source.value} payloads as {types}")
    body = await _body(request, intake.cfg.max_payload_bytes)
    answer = await intake.take(Pushed(source, body, x_sensor, device), request.url.path)
    return _json(answer.body, answer.status, answer.headers)


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


@router.post("/ttn", status_code=202, responses=_ANSWERS, openapi_extra=_SECURITY,
             summary="a The Things Stack webhook uplink",
             description="The body of a The Things Stack v3 webhook's uplink message (JSON), as it is sent. "
                         "Device and application come from `end_device_ids`; it is ingested like the uplink on "
                         "`v3/<app>@<tenant>/devices/<device>/up`, as sensor `ttn:<device id>`." + _RULES)
async def push_ttn(request: Request) -> Response:
    return await _push(request, Source.TTN)


@router.post("/chirpstack", status_code=202, responses=_ANSWERS, openapi_extra=_SECURITY,
             summary="a ChirpStack v4 HTTP integration event",
             description="ChirpStack v4's HTTP integration with the JSON marshaler posts every event here with "
                         "`?event=<type>`. Uplinks (`up`) are ingested like `application/<id>/device/<eui>/event/up`"
                         ", as sensor `chirpstack:<dev eui>`; other events are answered 200 and ignored." + _RULES)
async def push_chirpstack(
    request: Request,
    event: Annotated[str | None, Query(description="the event type ChirpStack names: `up` is ingested, the rest "
                                                   "(join, status, ack, txack, log, location, integration) "
                                                   "ignored")] = None,
) -> Response:
    if event != "up":
        _intake(request)
        if event is None:
            raise HTTPException(400, "no ?event= (ChirpStack's HTTP integration always names the event)")
        return _json({"status": "ignored", "event": event}, 200)
    return await _push(request, Source.CHIRPSTACK)


@router.post("/sensor-community", status_code=202, responses=_ANSWERS, openapi_extra=_SECURITY,
             summary="an airrohr (Sensor.Community) station's push",
             description="What the airrohr firmware posts with \"Send data to own API\": "
                         "`{\"esp8266id\", \"software_version\", \"sensordatavalues\":[…]}`. The station is "
                         "named by the `X-Sensor` header (`esp8266-<chip id>`; the body's esp8266id when the "
                         "header is absent) and ingested like `airrohr/<X-Sensor>`, as sensor "
                         "`sensor.community:esp8266-<chip id>`." + _RULES)
async def push_sensor_community(
    request: Request,
    x_sensor: Annotated[str | None, Header(description="`esp8266-<chip id>`: names the station")] = None,
    x_pin: Annotated[str | None, Header(description="the firmware's sensor pin; not needed (the body's value "
                                                    "types say what was measured)")] = None,
) -> Response:
    return await _push(request, Source.SENSOR_COMMUNITY, x_sensor=x_sensor)


@router.post("/senml", status_code=202, responses=_ANSWERS, openapi_extra=_SECURITY,
             summary="a SenML JSON pack (RFC 8428)",
             description="`application/senml+json` (or `application/json`); the base name `bn` (or `n`) names "
                         "the sensor, `senml:<name>`." + _RULES)
async def push_senml(request: Request) -> Response:
    return await _push(request, Source.SENML)


@router.post("/json/{device}", status_code=202, responses=_ANSWERS, openapi_extra=_SECURITY,
             summary="citysense JSON from one device",
             description="`{\"time\", \"readings\": {metric: value}}` or an array of them, canonical metric names "
                         "and units; sensor `citysense:<device>` unless an object names its `sensor_id`." + _RULES)
async def push_json(
    request: Request,
    device: Annotated[str, Path(description="the device id: one MQTT topic level (no '/', '+', '#')")],
) -> Response:
    return await _push(request, Source.JSON, device=device)

