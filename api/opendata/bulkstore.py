"""The bulk files on disk, as the API serves them: listing CITYSENSE_OPEN_BULK_DIR and finding one
file by dataset and name (nothing outside the directory can be named)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from api.opendata.bulkfiles import file_etag, parse_file_name
from api.opendata.datasets import BY_ID


@dataclass(frozen=True, slots=True)
class StoredFile:
    dataset: str
    day: date
    name: str
    path: Path
    size: int
    modified: datetime
    etag: str


def _stored(dataset: str, path: Path) -> StoredFile | None:
    parsed = parse_file_name(path.name)
    if parsed is None or parsed[0] != dataset:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return StoredFile(dataset, parsed[1], path.name, path, st.st_size,
                      datetime.fromtimestamp(st.st_mtime, tz=UTC), file_etag(st.st_size, st.st_mtime_ns))


def list_files(root: Path) -> list[StoredFile]:
    """Every bulk file of a known dataset, by dataset and day."""
    out: list[StoredFile] = []
    for dataset in BY_ID:
        folder = root / dataset
        if not folder.is_dir():
            continue
        out.extend(f for p in folder.iterdir() if (f := _stored(dataset, p)) is not None)
    out.sort(key=lambda f: (f.dataset, f.day))
    return out


def find_file(root: Path, dataset: str, name: str) -> StoredFile | None:
    if dataset not in BY_ID or parse_file_name(name) is None:
        return None
    return _stored(dataset, root / dataset / name)
