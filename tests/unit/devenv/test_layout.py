"""Table-driven tests of the pure half of `citysense services` (devenv.layout)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from citysense.endpoints import LOCAL_DATABASE_URL, LOCAL_MQTT_PORT, LOCAL_MQTT_URL, LOCAL_PG_PORT
from devenv import layout as sl

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = (REPO / "deploy" / "mosquitto" / "citysense.conf").read_text()
HOME = Path("/home/ann")


# --- directories ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "state", "cache"),
    [
        ({}, "/home/ann/.local/state/citysense", "/home/ann/.cache/citysense"),
        ({"CITYSENSE_STATE_DIR": "/srv/s"}, "/srv/s", "/home/ann/.cache/citysense"),
        ({"CITYSENSE_CACHE_DIR": "/var/cache/cs"}, "/home/ann/.local/state/citysense", "/var/cache/cs"),
        ({"CITYSENSE_STATE_DIR": "  "}, "/home/ann/.local/state/citysense", "/home/ann/.cache/citysense"),
        ({"CITYSENSE_STATE_DIR": "rel/state"}, "/home/ann/rel/state", "/home/ann/.cache/citysense"),
    ],
)
def test_resolve_layout(environ: dict[str, str], state: str, cache: str) -> None:
    layout = sl.resolve_layout(environ, HOME)
    assert (layout.state_dir, layout.cache_dir) == (Path(state), Path(cache))


LAYOUT = sl.Layout(state_dir=Path("/s"), cache_dir=Path("/c"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (LAYOUT.mosquitto_conf, "/s/mosquitto/mosquitto.conf"),
        (LAYOUT.mosquitto_pid, "/s/mosquitto/mosquitto.pid"),
        (LAYOUT.mosquitto_log, "/s/mosquitto/mosquitto.log"),
        (LAYOUT.mosquitto_persistence, "/s/mosquitto/data"),
        (LAYOUT.postgres_log, "/s/postgres/postgres.log"),
        (LAYOUT.postgres_info, "/s/postgres/instance.json"),
        (LAYOUT.timescale_root, "/c/trixie-timescaledb"),
        (LAYOUT.partial_root(42), "/c/trixie-timescaledb.partial-42"),
        (LAYOUT.pg_data_dir, f"/var/lib/citysense/{LAYOUT.instance_key}/pgdata"),
        (LAYOUT.pg_socket_dir, f"/var/lib/citysense/{LAYOUT.instance_key}/run"),
    ],
)
def test_layout_paths(path: Path | PurePosixPath, expected: str) -> None:
    assert str(path) == expected


def test_partial_root_matches_its_glob() -> None:
    assert LAYOUT.partial_root(7).match(LAYOUT.partial_root_glob)
    assert not LAYOUT.timescale_root.match(LAYOUT.partial_root_glob)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("/s", "/s", True),
        ("/s", "/t", False),
        ("/home/a/.local/state/citysense", "/home/b/.local/state/citysense", False),
    ],
)
def test_instance_key_follows_state_dir(a: str, b: str, same: bool) -> None:
    key_a = sl.Layout(Path(a), Path("/c")).instance_key
    key_b = sl.Layout(Path(b), Path("/other")).instance_key
    assert (key_a == key_b) is same
    assert len(key_a) == 12
    assert key_a.isalnum()


@pytest.mark.parametrize(
    ("root", "inner", "expected"),
    [
        ("/", "/var/lib/citysense/x", "/var/lib/citysense/x"),
        ("/c/trixie-timescaledb", "/var/lib/citysense/x", "/c/trixie-timescaledb/var/lib/citysense/x"),
    ],
)
def test_host_path(root: str, inner: str, expected: str) -> None:
    assert sl.host_path(Path(root), PurePosixPath(inner)) == Path(expected)


# --- overrides and env -----------------------------------------------------------------

EXT_DB = "postgresql://u:pw@db.example:5432/x"
EXT_MQ = "mqtts://broker.example:8883"


@pytest.mark.parametrize(
    ("environ", "dotenv", "expected"),
    [
        ({}, {}, sl.Overrides(None, None)),
        ({"CITYSENSE_DATABASE_URL": EXT_DB}, {}, sl.Overrides(EXT_DB, None)),
        ({}, {"CITYSENSE_MQTT_URL": EXT_MQ}, sl.Overrides(None, EXT_MQ)),
        # the real environment wins over .env
        (
            {"CITYSENSE_DATABASE_URL": EXT_DB},
            {"CITYSENSE_DATABASE_URL": "postgresql://other/db"},
            sl.Overrides(EXT_DB, None),
        ),
        # empty or valueless entries mean "unset"
        ({"CITYSENSE_DATABASE_URL": ""}, {"CITYSENSE_DATABASE_URL": None}, sl.Overrides(None, None)),
        ({"CITYSENSE_DATABASE_URL": " "}, {"CITYSENSE_DATABASE_URL": EXT_DB}, sl.Overrides(EXT_DB, None)),
        # what `eval "$(citysense services env …)"` leaves behind is not an override
        (
            {"CITYSENSE_DATABASE_URL": LOCAL_DATABASE_URL, "CITYSENSE_MQTT_URL": LOCAL_MQTT_URL},
            {},
            sl.Overrides(None, None),
        ),
        ({"OTHER": "x"}, {"CITYSENSE_MQTT_URL": f" {EXT_MQ} "}, sl.Overrides(None, EXT_MQ)),
    ],
)
def test_pick_overrides(environ: dict[str, str], dotenv: dict[str, str | None], expected: sl.Overrides) -> None:
    assert sl.pick_overrides(environ, dotenv) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            sl.Overrides(None, None),
            [f"CITYSENSE_DATABASE_URL={LOCAL_DATABASE_URL}", f"CITYSENSE_MQTT_URL={LOCAL_MQTT_URL}"],
        ),
        (sl.Overrides(EXT_DB, None), [f"CITYSENSE_DATABASE_URL={EXT_DB}", f"CITYSENSE_MQTT_URL={LOCAL_MQTT_URL}"]),
        (sl.Overrides(None, EXT_MQ), [f"CITYSENSE_DATABASE_URL={LOCAL_DATABASE_URL}", f"CITYSENSE_MQTT_URL={EXT_MQ}"]),
    ],
)
def test_env_lines(overrides: sl.Overrides, expected: list[str]) -> None:
    assert sl.env_lines(overrides) == expected


def test_local_urls_use_the_local_ports() -> None:
    assert f":{LOCAL_PG_PORT}/" in LOCAL_DATABASE_URL
    assert LOCAL_MQTT_URL.endswith(f":{LOCAL_MQTT_PORT}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LOCAL_DATABASE_URL, f"postgresql://citysense:***@127.0.0.1:{LOCAL_PG_PORT}/citysense"),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("mqtt://127.0.0.1:11883", "mqtt://127.0.0.1:11883"),
        ("mqtts://dev:s3cret@b.example:8883", "mqtts://dev:***@b.example:8883"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:a@b@h/db", "postgresql://u:***@h/db"),
    ],
)
def test_mask_password(url: str, expected: str) -> None:
    assert sl.mask_password(url) == expected


@pytest.mark.parametrize(
    ("url", "default", "expected"),
    [
        ("postgresql://u:p@db.example/x", 5432, ("db.example", 5432)),
        ("postgresql://u:p@db.example:6543/x", 5432, ("db.example", 6543)),
        ("mqtt://127.0.0.1", 1883, ("127.0.0.1", 1883)),
        ("postgresql:///x?host=/run/postgresql", 5432, None),
        ("mqtt://h:notaport", 1883, None),
    ],
)
def test_url_host_port(url: str, default: int, expected: tuple[str, int] | None) -> None:
    assert sl.url_host_port(url, default) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LOCAL_DATABASE_URL, sl.DbCredentials("citysense", "citysense", "citysense")),
        ("postgresql://a:b%20c@h:1/d", sl.DbCredentials("a", "b c", "d")),
        ("postgresql://a:b@h", sl.DbCredentials("a", "b", "a")),
    ],
)
def test_local_db_credentials(url: str, expected: sl.DbCredentials) -> None:
    assert sl.local_db_credentials(url) == expected


def test_local_db_credentials_need_a_password() -> None:
    with pytest.raises(ValueError, match="no user/password"):
        sl.local_db_credentials("postgresql://a@h/d")


# --- Mosquitto -----------------------------------------------------------------------


def _render(**changes: object) -> str:
    kwargs: dict[str, object] = {
        "persistence_dir": Path("/s/mosquitto/data"),
        "pid_file": Path("/s/mosquitto/mosquitto.pid"),
        "log_file": Path("/s/mosquitto/mosquitto.log"),
        "user": "root",
        **changes,
    }
    return sl.render_mosquitto_conf(TEMPLATE, **kwargs)  # type: ignore[arg-type]


def _options(conf: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in conf.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            options.setdefault(key, []).append(value)
    return options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("listener", f"{LOCAL_MQTT_PORT} 127.0.0.1"),
        ("allow_anonymous", "true"),
        ("persistence", "true"),
        ("persistence_location", "/s/mosquitto/data"),
        ("persistence_file", "mosquitto.db"),
        ("pid_file", "/s/mosquitto/mosquitto.pid"),
        ("log_dest", "file /s/mosquitto/mosquitto.log"),
        ("user", "root"),
        ("max_queued_messages", "1000000"),
        ("max_packet_size", "262144"),
        ("persistent_client_expiration", "7d"),
    ],
)
def test_mosquitto_conf_options(option: str, value: str) -> None:
    assert _options(_render())[option] == [value]


def test_mosquitto_conf_bounds() -> None:
    options = _options(_render())
    # 10^6 queued readings of a few hundred bytes must fit under the byte bound
    assert int(options["max_queued_bytes"][0]) >= 1_000_000 * 500
    assert int(options["max_inflight_messages"][0]) > 20  # above mosquitto's default
    assert 0 < int(options["autosave_interval"][0]) <= 300


def test_mosquitto_conf_is_fully_rendered() -> None:
    conf = _render()
    assert "${" not in conf
    # comments mentioning $CITYSENSE_STATE_DIR are not template fields
    assert "$CITYSENSE_STATE_DIR" in conf


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"port": 1999}, ("listener", "1999 127.0.0.1")),
        ({"persistence_dir": Path("/x/data/")}, ("persistence_location", "/x/data")),
        ({"persistence_dir": Path("/")}, ("persistence_location", "/")),
        ({"user": "ann"}, ("user", "ann")),
    ],
)
def test_mosquitto_conf_fields(changes: dict[str, object], expected: tuple[str, str]) -> None:
    option, value = expected
    assert _options(_render(**changes))[option] == [value]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": 0}, "bad port"),
        ({"port": 70000}, "bad port"),
        # a newline would smuggle in a second, public listener
        ({"pid_file": Path("/s/x\nlistener 1883 0.0.0.0")}, "pid_file cannot be written"),
        ({"user": ""}, "user cannot be written"),
        ({"user": "root "}, "user cannot be written"),
    ],
)
def test_mosquitto_conf_rejects(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _render(**changes)


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("a ${x} b", {"x": "1"}, "a 1 b"),
        ("$HOME ${x}$x", {"x": "2"}, "$HOME 2$x"),
        ("${x}${x}", {"x": "3"}, "33"),
        ("no fields", {"x": "1"}, "no fields"),
    ],
)
def test_fill_template(template: str, values: dict[str, str], expected: str) -> None:
    assert sl.fill_template(template, values) == expected


def test_fill_template_names_missing_fields() -> None:
    with pytest.raises(ValueError, match="b, c"):
        sl.fill_template("${a} ${c} ${b}", {"a": "1"})


# --- PostgreSQL ----------------------------------------------------------------------

CTL_LIB = "/usr/lib/postgresql/{}/share/extension/timescaledb.control"
CTL_SHARE = "/usr/share/postgresql/{}/extension/timescaledb.control"


@pytest.mark.parametrize(
    ("controls", "servers", "expected"),
    [
        ([], [15], None),
        ([CTL_SHARE.format(17)], [17], 17),
        ([CTL_LIB.format(16)], [16], 16),
        ([CTL_SHARE.format(16), CTL_SHARE.format(17)], [16, 17], 17),
        # extension without a server (only -dev bits installed) is no use
        ([CTL_SHARE.format(17)], [15], None),
        ([CTL_SHARE.format(16), CTL_SHARE.format(17)], [15, 16], 16),
        (["/usr/share/postgresql/17/extension/other.control"], [17], None),
        (["/opt/usr/share/postgresql/17/extension/timescaledb.control"], [17], None),
    ],
)
def test_find_timescale_major(controls: list[str], servers: list[int], expected: int | None) -> None:
    assert sl.find_timescale_major(controls, servers) == expected


def test_control_globs_match_the_patterns() -> None:
    for glob, template in zip(sl.TIMESCALE_CONTROL_GLOBS, (CTL_LIB, CTL_SHARE), strict=True):
        assert PurePosixPath(template.format(17)).relative_to("/").match(glob)


def _pg_settings(text: str) -> dict[str, str]:
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("listen_addresses", "'127.0.0.1'"),
        ("port", str(LOCAL_PG_PORT)),
        ("unix_socket_directories", "'/var/lib/citysense/k/run'"),
        ("shared_preload_libraries", "'timescaledb'"),
        ("dynamic_shared_memory_type", "mmap"),
        ("timescaledb.telemetry_level", "off"),
        ("max_connections", "200"),
        ("shared_buffers", "1GB"),
        ("work_mem", "32MB"),
        ("maintenance_work_mem", "256MB"),
        ("synchronous_commit", "on"),
        ("wal_level", "minimal"),
        ("max_wal_senders", "0"),
        ("checkpoint_timeout", "15min"),
        ("max_wal_size", "4GB"),
    ],
)
def test_postgres_conf(name: str, value: str) -> None:
    text = sl.render_postgres_conf(socket_dir=PurePosixPath("/var/lib/citysense/k/run"))
    assert _pg_settings(text)[name] == value


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ("a = 1\n", f"a = 1\n\n# citysense settings (see citysense.conf)\n{sl.PG_INCLUDE_LINE}\n"),
        ("a = 1", f"a = 1\n\n# citysense settings (see citysense.conf)\n{sl.PG_INCLUDE_LINE}\n"),
        ("", f"\n# citysense settings (see citysense.conf)\n{sl.PG_INCLUDE_LINE}\n"),
        (f"a = 1\n{sl.PG_INCLUDE_LINE}\n", None),
        (f"a = 1\n  {sl.PG_INCLUDE_LINE}  \nb = 2\n", None),
        (
            f"#{sl.PG_INCLUDE_LINE}\n",
            f"#{sl.PG_INCLUDE_LINE}\n\n# citysense settings (see citysense.conf)\n{sl.PG_INCLUDE_LINE}\n",
        ),
    ],
)
def test_with_include(conf: str, expected: str | None) -> None:
    assert sl.with_include(conf) == expected


def test_with_include_is_idempotent() -> None:
    once = sl.with_include("x = 1\n")
    assert once is not None
    assert sl.with_include(once) is None


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (sl.quote_ident, "citysense", '"citysense"'),
        (sl.quote_ident, 'we"ird', '"we""ird"'),
        (sl.quote_literal, "citysense", "'citysense'"),
        (sl.quote_literal, "o'clock", "'o''clock'"),
    ],
)
def test_quoting(func: object, value: str, expected: str) -> None:
    assert callable(func)
    assert func(value) == expected


def test_quote_literal_refuses_backslashes() -> None:
    with pytest.raises(ValueError, match="backslashes"):
        sl.quote_literal("a\\b")


def test_bootstrap_sql() -> None:
    sql = sl.bootstrap_sql(sl.DbCredentials("citysense", "pa'ss", "citysense"))
    assert sql.startswith("\\set ON_ERROR_STOP on\n")
    assert "ALTER ROLE \"citysense\" WITH LOGIN SUPERUSER PASSWORD 'pa''ss';" in sql
    assert "CREATE ROLE \"citysense\"' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'citysense')" in sql
    assert 'CREATE DATABASE "citysense" OWNER "citysense"\'' in sql
    assert sql.count("\\gexec") == 2


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("2.19.3\napache\n", ("2.19.3", "apache")),
        ("2.17.0\n\ntimescale\n", ("2.17.0", "timescale")),
        ("2.19.3\n", ("2.19.3", "?")),
        ("", ("?", "?")),
    ],
)
def test_parse_pg_versions(output: str, expected: tuple[str, str]) -> None:
    assert sl.parse_pg_versions(output) == expected


def test_version_sql_rolls_back() -> None:
    statements = [s.strip() for s in sl.PG_VERSION_SQL.split(";") if s.strip()]
    assert statements[1] == "BEGIN"
    assert statements[-1] == "ROLLBACK"


# --- system files ---------------------------------------------------------------------

PASSWD = """root:x:0:0:root:/root:/bin/bash
postgresql:x:5:5::/:/bin/false
postgres:x:100:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash
broken:x:abc:1::/:/bin/sh
"""


@pytest.mark.parametrize(
    ("user", "expected"),
    [("postgres", (100, 102)), ("root", (0, 0)), ("nobody", None), ("broken", None), ("postgre", None)],
)
def test_passwd_ids(user: str, expected: tuple[int, int] | None) -> None:
    assert sl.passwd_ids(PASSWD, user) == expected


DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""

DEB822_SECURITY_FIRST = """Types: deb
URIs: https://security.example/debian-security
Suites: bookworm-security

Types: deb-src deb
URIs: https://mirror.example.be/debian/
Suites: bookworm
"""

DEB822_DISABLED = """Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
"""


@pytest.mark.parametrize(
    ("sources", "override", "expected"),
    [
        ([("debian.sources", DEB822)], None, "http://deb.debian.org/debian"),
        ([("debian.sources", DEB822_SECURITY_FIRST)], None, "https://mirror.example.be/debian"),
        ([("x.sources", DEB822_DISABLED)], None, sl.DEFAULT_DEBIAN_MIRROR),
        (
            [("sources.list", "deb http://ftp.be.debian.org/debian bookworm main\n")],
            None,
            "http://ftp.be.debian.org/debian",
        ),
        (
            [("sources.list", "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n")],
            None,
            "http://m.example/debian",
        ),
        ([("sources.list", "# deb http://commented.example/debian bookworm main\n")], None, sl.DEFAULT_DEBIAN_MIRROR),
        ([("sources.list", "deb-src http://src.example/debian bookworm main\n")], None, sl.DEFAULT_DEBIAN_MIRROR),
        # Ubuntu: its archive has no Debian suites, so fall back to deb.debian.org
        ([("sources.list", "deb http://archive.ubuntu.com/ubuntu jammy main\n")], None, sl.DEFAULT_DEBIAN_MIRROR),
        (
            [("nodesource.sources", "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n")],
            None,
            sl.DEFAULT_DEBIAN_MIRROR,
        ),
        # a file apt would ignore
        ([("debian.sources.disabled-by-farm", DEB822_SECURITY_FIRST)], None, sl.DEFAULT_DEBIAN_MIRROR),
        ([], None, sl.DEFAULT_DEBIAN_MIRROR),
        ([("debian.sources", DEB822)], "http://proxy.local/debian/", "http://proxy.local/debian"),
        ([("debian.sources", DEB822)], "  ", "http://deb.debian.org/debian"),
        (
            [("sources.list", ""), ("zz.list", "deb http://first.example/debian trixie main\n")],
            None,
            "http://first.example/debian",
        ),
    ],
)
def test_debian_mirror(sources: list[tuple[str, str]], override: str | None, expected: str) -> None:
    assert sl.debian_mirror(sources, override) == expected


def test_debootstrap_command() -> None:
    assert sl.debootstrap_command(Path("/c/t.partial-1"), "http://deb.debian.org/debian") == [
        "debootstrap",
        "--variant=minbase",
        "--include=postgresql-17-timescaledb",
        "trixie",
        "/c/t.partial-1",
        "http://deb.debian.org/debian",
    ]


MOUNTINFO = r"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:5 / /c/root.partial-1/proc rw - proc proc rw
41 22 0:6 / /c/root.partial-1/sys rw - sysfs sys rw
42 41 0:7 / /c/root.partial-1/sys/fs/cgroup rw - cgroup2 cgroup rw
43 22 0:8 / /c/root.partial-10/proc rw - proc proc rw
44 22 0:9 / /c/with\040space/proc rw - proc proc rw
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/c/root.partial-1",
            ["/c/root.partial-1/sys/fs/cgroup", "/c/root.partial-1/proc", "/c/root.partial-1/sys"],
        ),
        ("/c/root.partial-10", ["/c/root.partial-10/proc"]),
        ("/c/with space", ["/c/with space/proc"]),
        ("/elsewhere", []),
    ],
)
def test_mounts_under(path: str, expected: list[str]) -> None:
    assert sl.mounts_under(MOUNTINFO, Path(path)) == [Path(p) for p in expected]


@pytest.mark.parametrize(
    ("root", "argv", "expected"),
    [
        ("/", ["psql"], ["chroot", "--userspec=100:102", "/", "psql"]),
        ("/c/r", ["pg_ctl", "stop"], ["chroot", "--userspec=100:102", "/c/r", "pg_ctl", "stop"]),
    ],
)
def test_in_root(root: str, argv: list[str], expected: list[str]) -> None:
    assert sl.in_root(Path(root), 100, 102, argv) == expected


def test_pg_bindir() -> None:
    assert sl.pg_bindir(17) == PurePosixPath("/usr/lib/postgresql/17/bin")
