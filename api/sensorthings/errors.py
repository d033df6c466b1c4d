"""What a SensorThings request can get wrong: a query option or path that makes no sense (400), an
entity that is not there or not visible to the caller (404)."""

from __future__ import annotations


class StaError(ValueError):
    status = 400


class BadOption(StaError):
    """A query option or resource path the service does not understand or support: 400."""


class NotFound(StaError):
    status = 404
