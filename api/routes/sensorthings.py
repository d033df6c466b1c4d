"""The OGC SensorThings API 1.1, read-only, at /sta/v1.1 (api.sensorthings)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam

from api.deps import Conn, ReadAccess, State
from api.sensorthings import resolver
from api.sensorthings.errors import StaError

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, tags=["SensorThings"])

_DESCRIPTION = """
The [OGC SensorThings API 1.1](https://docs.ogc.org/is/18-088/18-088.html) (Sensing part),
read-only: Things (one per sensor), Locations, Sensors (device models), ObservedProperties (the
canonical metrics), Datastreams (sensor x metric), Observations (the readings) and
FeaturesOfInterest, with `$filter`, `$orderby`, `$select`, `$expand` (one level), `$top`, `$skip`,
`$count` and `@iot.nextLink` paging (at most CITYSENSE_STA_MAX_TOP per page). Paths such as
`/sta/v1.1/Datastreams('tasmota:pow1:power')/Observations`; ids and examples in docs/open-data.md.
Access as for the rest of the API: callers without a key never see private sensors.
"""

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "a query option or path the service does not support, with the reason"},
    404: {"description": "no such entity (private sensors count as absent for callers without a key)"},
}


ResourcePath = Annotated[
    str,
    PathParam(description="a SensorThings resource path: an entity set, an entity, a navigation from it "
                          "(query options as in the standard: $filter, $orderby, $select, $expand, $top, $skip, "
                          "$count)", examples=["Datastreams('tasmota:pow1:power')/Observations"]),
]


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _answer(request: Request, path: str, access: ReadAccess, state: State, conn: Conn) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX
    req = resolver.StaRequest(
        base=base, path=path, params=dict(request.query_params), include_private=access.authenticated,
        default_top=state.settings.sta_default_top, max_top=state.settings.sta_max_top,
    )
    try:
        return _json(await resolver.answer(conn, req))
    except StaError as exc:
        # FROST's error shape (clients read `message`), plus the `detail` of the rest of this API.
        return _json({"code": exc.status, "type": "error", "message": str(exc), "detail": str(exc)}, exc.status)


@router.get("", summary="SensorThings service root", description=_DESCRIPTION, responses=_RESPONSES)
async def service_root(request: Request, access: ReadAccess, state: State, conn: Conn) -> Response:
    return await _answer(request, "", access, state, conn)


@router.get("/{path:path}", summary="SensorThings resources", description=_DESCRIPTION, responses=_RESPONSES)
async def resources(request: Request, path: ResourcePath, access: ReadAccess, state: State, conn: Conn) -> Response:
    return await _answer(request, path, access, state, conn)
