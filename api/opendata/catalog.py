"""The DCAT-AP catalogue of the open data, as an RDF graph (rdflib) serialised to JSON-LD or Turtle.
Pure: the coverage and the bulk files are given.

One dcat:Dataset per theme (api.opendata.datasets) with CC BY 4.0, the publisher, temporal and
spatial coverage and a daily update frequency. Its distributions: the open aggregates API and the
SensorThings API (each also a dcat:DataService) and one gzip CSV per day of bulk files. Values of
controlled vocabularies are the EU Publications Office's authority tables, as DCAT-AP (and the
Flemish profile DCAT-AP-VL built on it) asks; each is typed with the class DCAT-AP expects of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote, urlencode

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from api.opendata.datasets import Dataset
from models.districts import CENTRES, MAX_KM_FROM_CENTRE

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
_EU = "http://publications.europa.eu/resource/authority/"
LICENCE = URIRef(_EU + "licence/CC_BY_4_0")
DAILY = URIRef(_EU + "frequency/DAILY")
CSV = URIRef(_EU + "file-type/CSV")
JSON = URIRef(_EU + "file-type/JSON")
CSV_MEDIA = URIRef("http://www.iana.org/assignments/media-types/text/csv")
JSON_MEDIA = URIRef("http://www.iana.org/assignments/media-types/application/json")
GZIP = URIRef("http://www.iana.org/assignments/media-types/application/gzip")
ENGLISH = URIRef(_EU + "language/ENG")
# Files listed one by one (the most recent days); all of them through the bulk index. A year of daily
# files as distributions was 25,000 triples and 4 s to build, 4-7 s to serialise: no portal wants that.
LISTED_DAYS = 31
STA_STANDARD = URIRef("http://www.opengis.net/doc/is/sensorthings/1.1")
STA_DOCUMENT = URIRef("https://docs.ogc.org/is/18-088/18-088.html")
THEMES = URIRef(_EU + "data-theme")
LOCAL_AUTHORITY = URIRef("http://purl.org/adms/publishertype/LocalAuthority")
ATTRIBUTION = URIRef("http://purl.org/adms/licencetype/Attribution")
STABLE = URIRef("http://data.europa.eu/r5r/availability/stable")
# The labels of the EU data themes used (the authority table's English labels).
THEME_LABELS = {"ENVI": "Environment", "TRAN": "Transport", "ENER": "Energy"}
OPENAPI_STANDARD = URIRef("https://spec.openapis.org/oas/v3.1.0")


@dataclass(frozen=True, slots=True)
class Coverage:
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True, slots=True)
class BulkFile:
    dataset: str
    day: date
    url: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Publisher:
    name: str
    url: str


def city_bbox() -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) around every district centre, MAX_KM_FROM_CENTRE wide: the
    city, not the sensors (whose exact spread could point at a private one)."""
    dlat = MAX_KM_FROM_CENTRE / 111.2
    lats = [lat for lat, _ in CENTRES.values()]
    lons = [lon for _, lon in CENTRES.values()]
    dlon = dlat / math.cos(math.radians(sum(lats) / len(lats)))
    return (round(min(lons) - dlon, 3), round(min(lats) - dlat, 3), round(max(lons) + dlon, 3),
            round(max(lats) + dlat, 3))


def _bbox_wkt(b: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = b
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def _typed(g: Graph, uri: URIRef, cls: URIRef, label: str | None = None) -> URIRef:
    g.add((uri, RDF.type, cls))
    if label is not None:
        g.add((uri, SKOS.prefLabel, Literal(label, lang="en")))
    return uri


def _contact(g: Graph, publisher: Publisher) -> BNode:
    contact = BNode()
    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(publisher.name)))
    g.add((contact, VCARD.hasURL, URIRef(publisher.url)))
    return contact


def _service(g: Graph, uri: URIRef, title: str, endpoint: str, description: str, standard: URIRef,
             publisher: URIRef) -> URIRef:
    g.add((uri, RDF.type, DCAT.DataService))
    g.add((uri, DCTERMS.title, Literal(title, lang="en")))
    g.add((uri, DCTERMS.description, Literal(description, lang="en")))
    g.add((uri, DCAT.endpointURL, URIRef(endpoint)))
    g.add((uri, DCTERMS.conformsTo, _typed(g, standard, DCTERMS.Standard)))
    g.add((uri, DCTERMS.license, LICENCE))
    g.add((uri, DCTERMS.publisher, publisher))
    return uri


def _distribution(g: Graph, uri: URIRef, title: str, description: str, access: str, fmt: URIRef, media: URIRef,
                  service: URIRef | None = None) -> URIRef:
    g.add((uri, RDF.type, DCAT.Distribution))
    g.add((uri, DCTERMS.title, Literal(title, lang="en")))
    g.add((uri, DCTERMS.description, Literal(description, lang="en")))
    g.add((uri, DCAT.accessURL, URIRef(access)))
    g.add((uri, DCTERMS.format, _typed(g, fmt, DCTERMS.MediaTypeOrExtent)))
    g.add((uri, DCAT.mediaType, _typed(g, media, DCTERMS.MediaType)))
    g.add((uri, DCTERMS.license, LICENCE))
    g.add((uri, DCATAP.availability, STABLE))
    if service is not None:
        g.add((uri, DCAT.accessService, service))
    return uri


def catalog_graph(
    base: str, publisher: Publisher, datasets: Sequence[Dataset], coverage: dict[str, Coverage],
    files: Sequence[BulkFile],
) -> Graph:
    """`base`: the API's root URL, e.g. https://data.leuven.example (no trailing slash)."""
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS), ("vcard", VCARD),
                       ("locn", LOCN), ("adms", ADMS), ("dcatap", DCATAP)):
        g.bind(prefix, ns)
    cat = URIRef(f"{base}/api/v1/open/catalog")
    agent = URIRef(publisher.url)
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(publisher.name)))
    g.add((agent, DCTERMS.type, _typed(g, LOCAL_AUTHORITY, SKOS.Concept, "Local Authority")))
    _typed(g, LICENCE, DCTERMS.LicenseDocument)
    g.add((LICENCE, DCTERMS.type, _typed(g, ATTRIBUTION, SKOS.Concept, "Attribution")))
    _typed(g, DAILY, DCTERMS.Frequency)
    _typed(g, ENGLISH, DCTERMS.LinguisticSystem)
    _typed(g, STABLE, SKOS.Concept, "stable")

    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("citysense open data (Leuven)", lang="en")))
    g.add((cat, DCTERMS.description, Literal(
        "Open data of Leuven's smart-city sensors: k-anonymous aggregates per district and per non-private "
        "sensor, as an API, as OGC SensorThings and as daily CSV files.", lang="en")))
    g.add((cat, DCTERMS.publisher, agent))
    g.add((cat, DCTERMS.license, LICENCE))
    g.add((cat, DCTERMS.language, ENGLISH))
    g.add((cat, FOAF.homepage, _typed(g, URIRef(f"{base}/docs"), FOAF.Document)))
    g.add((cat, DCAT.themeTaxonomy, _typed(g, THEMES, SKOS.ConceptScheme)))
    g.add((THEMES, DCTERMS.title, Literal("Data theme", lang="en")))

    aggregates_api = _service(
        g, URIRef(f"{base}/api/v1/open/aggregates"), "citysense open aggregates API", f"{base}/api/v1/open/aggregates",
        "Aggregates per time bucket and district or non-private sensor; rows fed by fewer than k sensors are "
        "left out.", OPENAPI_STANDARD, agent)
    g.add((aggregates_api, DCAT.endpointDescription, URIRef(f"{base}/openapi.json")))
    sta_api = _service(
        g, URIRef(f"{base}/sta/v1.1"), "citysense SensorThings API", f"{base}/sta/v1.1",
        "OGC SensorThings API 1.1 (read-only) over the readings of non-private sensors.", STA_STANDARD, agent)
    g.add((sta_api, DCAT.endpointDescription, STA_DOCUMENT))
    for svc in (aggregates_api, sta_api):
        g.add((cat, DCAT.service, svc))
        g.add((svc, DCAT.contactPoint, _contact(g, publisher)))
        for kw in ("open data", "sensors", "Leuven"):
            g.add((svc, DCAT.keyword, Literal(kw, lang="en")))

    city = BNode()
    g.add((city, RDF.type, DCTERMS.Location))
    g.add((city, SKOS.prefLabel, Literal("Leuven", lang="nl")))
    x0, y0, x1, y1 = city_bbox()
    g.add((city, DCAT.bbox, Literal(_bbox_wkt((x0, y0, x1, y1)), datatype=GSP.wktLiteral)))
    g.add((city, DCAT.centroid, Literal(f"POINT({(x0 + x1) / 2:.4f} {(y0 + y1) / 2:.4f})", datatype=GSP.wktLiteral)))
    g.add((cat, DCTERMS.spatial, city))
    by_dataset: dict[str, list[BulkFile]] = {}
    for f in files:
        by_dataset.setdefault(f.dataset, []).append(f)
    starts = [c.first for c in coverage.values() if c.first is not None]
    if starts:
        g.add((cat, DCTERMS.issued, Literal(min(starts).date().isoformat(), datatype=XSD.date)))
    if files:
        g.add((cat, DCTERMS.modified, Literal(max(f.modified for f in files).isoformat(), datatype=XSD.dateTime)))
    for ds in datasets:
        uri = URIRef(f"{base}/api/v1/open/catalog#{ds.id}")
        g.add((cat, DCAT.dataset, uri))
        g.add((uri, RDF.type, DCAT.Dataset))
        g.add((uri, DCTERMS.identifier, Literal(ds.id)))
        g.add((uri, DCTERMS.title, Literal(ds.title, lang="en")))
        g.add((uri, DCTERMS.description, Literal(ds.description, lang="en")))
        g.add((uri, DCTERMS.publisher, agent))
        g.add((uri, DCTERMS.accrualPeriodicity, DAILY))
        g.add((uri, DCAT.theme, _typed(g, URIRef(_EU + "data-theme/" + ds.theme), SKOS.Concept,
                                       THEME_LABELS[ds.theme])))
        for kw in ds.keywords:
            g.add((uri, DCAT.keyword, Literal(kw, lang="en")))
        g.add((uri, DCAT.contactPoint, _contact(g, publisher)))
        for svc in (aggregates_api, sta_api):
            g.add((svc, DCAT.servesDataset, uri))
            g.add((svc, DCAT.theme, URIRef(_EU + "data-theme/" + ds.theme)))
        cov = coverage.get(ds.id)
        if cov is not None and cov.first is not None and cov.last is not None:
            period = BNode()
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            g.add((period, DCAT.startDate, Literal(cov.first.date().isoformat(), datatype=XSD.date)))
            g.add((period, DCAT.endDate, Literal(cov.last.date().isoformat(), datatype=XSD.date)))
            g.add((uri, DCTERMS.temporal, period))
        g.add((uri, DCTERMS.spatial, city))
        kind = quote(ds.kind.value)
        api_dist = _distribution(
            g, URIRef(f"{base}/api/v1/open/catalog#{ds.id}-api"), f"{ds.title}: open aggregates API",
            "Any bucket and range: GET with metric, bucket, agg and group_by (docs/open-data.md).",
            f"{base}/api/v1/open/aggregates?kind={kind}", JSON,
            JSON_MEDIA, aggregates_api)
        sta_dist = _distribution(
            g, URIRef(f"{base}/api/v1/open/catalog#{ds.id}-sta"), f"{ds.title}: SensorThings API",
            "The Datastreams of the dataset's sensors, with their Observations (OGC SensorThings API 1.1).",
            f"{base}/sta/v1.1/Datastreams?" + urlencode({"$filter": f"Thing/properties/kind eq '{ds.kind.value}'"},
                                                          quote_via=quote), JSON,
            JSON_MEDIA, sta_api)
        for dist in (api_dist, sta_dist):
            g.add((uri, DCAT.distribution, dist))
        index = _distribution(
            g, URIRef(f"{base}/api/v1/open/bulk?dataset={quote(ds.id)}"), f"{ds.title}: every daily CSV file",
            "The list of the dataset's daily files (JSON: url, day, bytes, etag), one gzip CSV per local day.",
            f"{base}/api/v1/open/bulk?dataset={quote(ds.id)}", JSON, JSON_MEDIA)
        g.add((uri, DCAT.distribution, index))
        for f in sorted(by_dataset.get(ds.id, []), key=lambda f: f.day)[-LISTED_DAYS:]:
            dist = _distribution(g, URIRef(f.url), f"{ds.title}, {f.day.isoformat()} (CSV, gzip)",
                                 "The day's hourly and daily open aggregates per district and per non-private "
                                 "sensor; columns in docs/open-data.md.", f.url, CSV,
                                 CSV_MEDIA)
            g.add((dist, DCAT.downloadURL, URIRef(f.url)))
            g.add((dist, DCAT.compressFormat, _typed(g, GZIP, DCTERMS.MediaType)))
            g.add((dist, DCAT.byteSize, Literal(f.size, datatype=XSD.nonNegativeInteger)))
            g.add((dist, DCTERMS.modified, Literal(f.modified.isoformat(), datatype=XSD.dateTime)))
            period = BNode()
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            g.add((period, DCAT.startDate, Literal(f.day.isoformat(), datatype=XSD.date)))
            g.add((period, DCAT.endDate, Literal(f.day.isoformat(), datatype=XSD.date)))
            g.add((dist, DCTERMS.temporal, period))
            g.add((uri, DCAT.distribution, dist))
    return g


def serialize(g: Graph, turtle: bool) -> bytes:
    if turtle:
        return g.serialize(format="turtle", encoding="utf-8")
    return g.serialize(format="json-ld", encoding="utf-8", auto_compact=True)
