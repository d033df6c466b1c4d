"""Pure parts of `citysense services`: paths, rendered config text, parsed system files.

Nothing here touches the file system, runs a process or reads the environment
itself; devenv.local_services, .mosquitto, .postgres and .debian_root do the I/O and
hand the inputs in. That keeps every decision (which mirror, which PostgreSQL, what
goes in a config file) a plain function with table-driven tests in
tests/unit/devenv/test_layout.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

from citysense.endpoints import LOCAL_DATABASE_URL, LOCAL_MQTT_PORT, LOCAL_MQTT_URL, LOCAL_PG_PORT
from citysense.mosquitto_conf import config_value as _config_value
from citysense.mosquitto_conf import fill_template

DATABASE_URL_VAR = "CITYSENSE_DATABASE_URL"
MQTT_URL_VAR = "CITYSENSE_MQTT_URL"
STATE_DIR_VAR = "CITYSENSE_STATE_DIR"
CACHE_DIR_VAR = "CITYSENSE_CACHE_DIR"
MIRROR_VAR = "CITYSENSE_DEBIAN_MIRROR"

LOOPBACK = "127.0.0.1"

# Debian 12 has no TimescaleDB package; Debian 13 (trixie) ships PostgreSQL 17
# with the Apache-licensed TimescaleDB build, so we debootstrap that.
ROOT_SUITE = "trixie"
ROOT_PACKAGE = "postgresql-17-timescaledb"
ROOT_DIR_NAME = "trixie-timescaledb"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"

# Paths *inside* the PostgreSQL root ("/" for a system PostgreSQL, else the
# debootstrapped tree). The data directory lives inside the root rather than in
# the state dir because the chrooted server cannot see outside its root, and a
# bind mount would be the only way across: mounts need privileges a container
# may not have, outlive crashes, and make `rm -rf ~/.cache` delete through them.
# Keying the directory by the state dir keeps "fresh state dir = fresh database".
INSTANCES_DIR = PurePosixPath("/var/lib/citysense")
PG_SUPERUSER = "postgres"
PG_INCLUDE_FILE = "citysense.conf"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where `citysense services` keeps things on the host."""

    state_dir: Path
    cache_dir: Path

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "services.lock"

    @property
    def mosquitto_dir(self) -> Path:
        return self.state_dir / "mosquitto"

    @property
    def mosquitto_conf(self) -> Path:
        return self.mosquitto_dir / "mosquitto.conf"

    @property
    def mosquitto_pid(self) -> Path:
        return self.mosquitto_dir / "mosquitto.pid"

    @property
    def mosquitto_log(self) -> Path:
        return self.mosquitto_dir / "mosquitto.log"

    @property
    def mosquitto_persistence(self) -> Path:
        return self.mosquitto_dir / "data"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def postgres_log(self) -> Path:
        return self.postgres_dir / "postgres.log"

    @property
    def postgres_info(self) -> Path:
        return self.postgres_dir / "instance.json"

    @property
    def debootstrap_log(self) -> Path:
        return self.postgres_dir / "debootstrap.log"

    @property
    def timescale_root(self) -> Path:
        return self.cache_dir / ROOT_DIR_NAME

    @property
    def root_build_lock(self) -> Path:
        return self.cache_dir / f".{ROOT_DIR_NAME}.lock"

    def partial_root(self, pid: int) -> Path:
        # A build goes here and is renamed into place only once complete, so an
        # interrupted debootstrap is never mistaken for a usable root.
        return self.cache_dir / f"{ROOT_DIR_NAME}.partial-{pid}"

    @property
    def partial_root_glob(self) -> str:
        return f"{ROOT_DIR_NAME}.partial-*"

    @property
    def instance_key(self) -> str:
        return hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]

    @property
    def instance_dir(self) -> PurePosixPath:
        """Inside the PostgreSQL root: owned by the postgres user."""
        return INSTANCES_DIR / self.instance_key

    @property
    def pg_data_dir(self) -> PurePosixPath:
        return self.instance_dir / "pgdata"

    @property
    def pg_socket_dir(self) -> PurePosixPath:
        return self.instance_dir / "run"


def resolve_layout(environ: Mapping[str, str], home: Path) -> Layout:
    """State and cache directories from the environment (absolute, `~` expanded)."""

    def pick(var: str, default: Path) -> Path:
        raw = environ.get(var, "").strip()
        path = Path(raw).expanduser() if raw else default
        return path if path.is_absolute() else home / path

    return Layout(
        state_dir=pick(STATE_DIR_VAR, home / ".local" / "state" / "citysense"),
        cache_dir=pick(CACHE_DIR_VAR, home / ".cache" / "citysense"),
    )


def host_path(root: Path, inner: PurePosixPath) -> Path:
    """A path inside the PostgreSQL root as seen from the host."""
    return root / inner.relative_to("/")


# --- overrides and `services env` ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overrides:
    """External services named by the environment (or .env); None = run our own."""

    database_url: str | None
    mqtt_url: str | None


def pick_overrides(environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> Overrides:
    """The real environment wins over .env, as with every dotenv loader; empty = unset.

    A value equal to our own local URL is not an override: it is what
    `eval "$(citysense services env | sed 's/^/export /')"` leaves in the shell,
    and a later `services up` from that shell must still start the services."""

    def pick(var: str, local: str) -> str | None:
        for source in (environ, dotenv):
            value = source.get(var)
            if value is not None and value.strip():
                return None if value.strip() == local else value.strip()
        return None

    return Overrides(
        database_url=pick(DATABASE_URL_VAR, LOCAL_DATABASE_URL),
        mqtt_url=pick(MQTT_URL_VAR, LOCAL_MQTT_URL),
    )


def env_lines(overrides: Overrides) -> list[str]:
    """Exactly the two lines `citysense services env` prints (shell-safe for our URLs)."""
    return [
        f"{DATABASE_URL_VAR}={overrides.database_url or LOCAL_DATABASE_URL}",
        f"{MQTT_URL_VAR}={overrides.mqtt_url or LOCAL_MQTT_URL}",
    ]


def mask_password(url: str) -> str:
    """`scheme://user:secret@host/…` → `scheme://user:***@host/…`, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def url_host_port(url: str, default_port: int) -> tuple[str, int] | None:
    """TCP target of a service URL, or None when it has no host (e.g. a unix socket)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port or default_port
    except ValueError:
        return None
    return parts.hostname, port


@dataclass(frozen=True, slots=True)
class DbCredentials:
    user: str
    password: str
    database: str


def local_db_credentials(url: str = LOCAL_DATABASE_URL) -> DbCredentials:
    parts = urlsplit(url)
    if not (parts.username and parts.password):
        raise ValueError(f"database URL has no user/password: {mask_password(url)}")
    return DbCredentials(
        user=unquote(parts.username),
        password=unquote(parts.password),
        database=unquote(parts.path.lstrip("/")) or unquote(parts.username),
    )


# --- Mosquitto ----------------------------------------------------------------------


def render_mosquitto_conf(
    template: str,
    *,
    port: int = LOCAL_MQTT_PORT,
    persistence_dir: Path,
    pid_file: Path,
    log_file: Path,
    user: str,
) -> str:
    """Fill deploy/mosquitto/citysense.conf; unknown or missing fields raise."""
    if not 0 < port < 65536:
        raise ValueError(f"bad port {port}")
    values = {
        "port": str(port),
        # mosquitto adds the "/" before the file name itself; avoid "//".
        "persistence_dir": _config_value("persistence_dir", str(persistence_dir).rstrip("/") or "/"),
        "pid_file": _config_value("pid_file", str(pid_file)),
        "log_file": _config_value("log_file", str(log_file)),
        "user": _config_value("user", user),
    }
    return fill_template(template, values)


# --- PostgreSQL ---------------------------------------------------------------------

_CONTROL_PATTERNS = (
    re.compile(r"^/usr/lib/postgresql/(\d+)/share/extension/timescaledb\.control$"),
    re.compile(r"^/usr/share/postgresql/(\d+)/extension/timescaledb\.control$"),
)

# Where timescaledb.control can be, relative to a root (see find_timescale_major).
TIMESCALE_CONTROL_GLOBS = (
    "usr/lib/postgresql/*/share/extension/timescaledb.control",
    "usr/share/postgresql/*/extension/timescaledb.control",
)


def find_timescale_major(control_files: Iterable[str], have_server: Iterable[int]) -> int | None:
    """Newest PostgreSQL major that has TimescaleDB *and* a server binary.

    `control_files` are absolute paths (relative to the root being inspected) of
    timescaledb.control files; `have_server` the majors with a bin/postgres.
    """
    servers = set(have_server)
    majors = {int(m.group(1)) for path in control_files for pat in _CONTROL_PATTERNS if (m := pat.match(path))}
    usable = majors & servers
    return max(usable) if usable else None


def pg_bindir(major: int) -> PurePosixPath:
    return PurePosixPath(f"/usr/lib/postgresql/{major}/bin")


def render_postgres_conf(*, socket_dir: PurePosixPath, port: int = LOCAL_PG_PORT) -> str:
    """Settings included at the end of postgresql.conf (so ALTER SYSTEM still wins)."""
    settings: list[tuple[str, str, str]] = [
        ("listen_addresses", f"'{LOOPBACK}'", "loopback only: the citysense role is a superuser"),
        ("port", str(port), "not 5432, so a system PostgreSQL is left alone"),
        ("unix_socket_directories", f"'{socket_dir}'", "private, used only for bootstrap as postgres"),
        ("shared_preload_libraries", "'timescaledb'", "TimescaleDB must be preloaded"),
        ("timescaledb.telemetry_level", "off", "no phoning home from dev/CI machines"),
        ("dynamic_shared_memory_type", "mmap", "/dev/shm may be tiny or missing in a chroot"),
        ("max_connections", "200", "tests and ingest open pools in parallel"),
        ("shared_buffers", "1GB", "sized for a 2-core / 24 GB box"),
        ("effective_cache_size", "8GB", ""),
        ("work_mem", "32MB", "time_bucket aggregates sort and hash"),
        ("maintenance_work_mem", "256MB", "index builds and compression"),
        ("synchronous_commit", "on", "ingest acks MQTT only after commit: durability matters"),
        ("wal_level", "minimal", "no replication here; less WAL for bulk loads"),
        ("max_wal_senders", "0", "required by wal_level=minimal"),
        ("checkpoint_timeout", "15min", "fewer full-page writes under sustained ingest"),
        ("max_wal_size", "4GB", ""),
        ("max_worker_processes", "16", "TimescaleDB background workers + parallel query"),
        ("timescaledb.max_background_workers", "8", ""),
        ("max_parallel_workers_per_gather", "1", "2 cores"),
        ("timezone", "'UTC'", "deterministic timestamp output in tests"),
        ("log_timezone", "'UTC'", ""),
    ]
    lines = [
        "# Written by `citysense services up` at every start; edits here are lost.",
        "# Use ALTER SYSTEM (postgresql.auto.conf) for local experiments instead.",
    ]
    for name, value, why in settings:
        lines.append(f"{name} = {value}" + (f"  # {why}" if why else ""))
    return "\n".join(lines) + "\n"


PG_INCLUDE_LINE = f"include '{PG_INCLUDE_FILE}'"


def with_include(postgresql_conf: str) -> str | None:
    """postgresql.conf with our include appended, or None if it is already there."""
    if any(line.strip() == PG_INCLUDE_LINE for line in postgresql_conf.splitlines()):
        return None
    sep = "" if postgresql_conf.endswith("\n") or not postgresql_conf else "\n"
    return f"{postgresql_conf}{sep}\n# citysense settings (see {PG_INCLUDE_FILE})\n{PG_INCLUDE_LINE}\n"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    if "\\" in value:
        # E'' strings would be needed; our credentials never contain a backslash.
        raise ValueError("backslashes are not supported in SQL literals here")
    return "'" + value.replace("'", "''") + "'"


def bootstrap_sql(creds: DbCredentials) -> str:
    """psql script (run as postgres) creating the role and database if missing.

    The role is a SUPERUSER on purpose: this is a loopback-only dev/test server,
    migrations run CREATE EXTENSION timescaledb, and the test suite creates and
    drops its own databases.
    """
    role, db, pw = quote_ident(creds.user), quote_ident(creds.database), quote_literal(creds.password)
    return (
        "\\set ON_ERROR_STOP on\n"
        f"SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = {quote_literal(creds.user)}) \\gexec\n"
        f"ALTER ROLE {role} WITH LOGIN SUPERUSER PASSWORD {pw};\n"
        f"SELECT 'CREATE DATABASE {db} OWNER {role}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = {quote_literal(creds.database)}) \\gexec\n"
    )


# Run in the `postgres` database and rolled back, so the app database is not
# touched; loading the extension is what defines timescaledb.license.
PG_VERSION_SQL = (
    "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb';\n"
    "BEGIN;\n"
    "CREATE EXTENSION IF NOT EXISTS timescaledb;\n"
    "SELECT current_setting('timescaledb.license', true);\n"
    "ROLLBACK;\n"
)


# --- system files -------------------------------------------------------------------


def passwd_ids(passwd_text: str, user: str) -> tuple[int, int] | None:
    """(uid, gid) of `user` in an /etc/passwd text."""
    for line in passwd_text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == user:
            try:
                return int(fields[2]), int(fields[3])
            except ValueError:
                return None
    return None


def _is_debian_archive(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and PurePosixPath(parts.path or "/").name == "debian"


def apt_uris(filename: str, text: str) -> list[str]:
    """Archive URIs of one apt source file, one-line (.list) or deb822 (.sources)."""
    uris: list[str] = []
    if filename.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" in fields.get("types", "").split():
                uris.extend(fields.get("uris", "").split())
    elif filename.endswith(".list"):
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            words = words[1:]
            if words and words[0].startswith("["):  # [arch=amd64 signed-by=…]
                while words and not words[0].endswith("]"):
                    words = words[1:]
                words = words[1:]
            if words:
                uris.append(words[0])
    return uris


def debian_mirror(sources: Iterable[tuple[str, str]], override: str | None = None) -> str:
    """The Debian mirror apt already uses (same host, so the same proxy/firewall
    rules apply); `debian-security` and non-Debian repositories are skipped."""
    if override and override.strip():
        return override.strip().rstrip("/")
    for filename, text in sources:
        for uri in apt_uris(filename, text):
            if _is_debian_archive(uri):
                return uri.rstrip("/")
    return DEFAULT_DEBIAN_MIRROR


def debootstrap_command(target: Path, mirror: str) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={ROOT_PACKAGE}",
        ROOT_SUITE,
        str(target),
        mirror,
    ]


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(mountinfo_text: str, path: Path) -> list[Path]:
    """Mount points at or below `path` (from /proc/self/mountinfo), deepest first,
    so they can be unmounted before a tree is deleted."""
    found: list[Path] = []
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        mount_point = Path(_unescape_mountinfo(fields[4]))
        if mount_point == path or path in mount_point.parents:
            found.append(mount_point)
    return sorted(set(found), key=lambda p: (-len(p.parts), str(p)))


def in_root(root: Path, uid: int, gid: int, argv: Iterable[str]) -> list[str]:
    """Run argv as uid:gid inside root. chroot(1) also serves a system PostgreSQL
    (root "/"), so both set-ups use one code path; numeric ids avoid depending on
    whether this coreutils resolves names inside or outside the new root."""
    return ["chroot", f"--userspec={uid}:{gid}", str(root), *argv]


def parse_pg_versions(psql_output: str) -> tuple[str, str]:
    """(timescaledb version, license) from PG_VERSION_SQL run with `psql -Atq`."""
    lines = [line.strip() for line in psql_output.splitlines() if line.strip()]
    version = lines[0] if lines else "?"
    license_ = lines[1] if len(lines) > 1 else "?"
    return version, license_
