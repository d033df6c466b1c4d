"""The Docker deployment: docker-compose.yml, the Dockerfile and deploy/docker/.

Always: the compose file is parsed (PyYAML) and its structural promises are checked —
two ingest replicas with distinct client ids in one share group, health checks on every
long-running service, named volumes for database and broker data, the simulators profile,
no committed secrets, and the auth files it refers to exist.
When the docker client with the compose plugin is installed (no engine needed):
`docker compose config -q` must accept it. When Mosquitto is installed: the ACL and the
password file that deploy/docker/mosquitto/make-auth.sh writes are tried on a real broker.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from citysense.settings import Settings
from devenv.mosquitto import MOSQUITTO, Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_DIR = ROOT / "deploy" / "docker"
MOSQUITTO_DIR = DOCKER_DIR / "mosquitto"
ENV_EXAMPLE = DOCKER_DIR / "env.example"
SECRETS = ("POSTGRES_PASSWORD", "MQTT_INGEST_PASSWORD", "MQTT_API_PASSWORD", "MQTT_HEALTHCHECK_PASSWORD",
           "MQTT_POLLER_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_DB_PASSWORD")
ONE_SHOT = {"migrate", "mosquitto-auth"}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = compose["services"]
    return svcs


def resolve_default(value: str) -> str:
    """`${VAR:-default}` → default; a literal stays itself."""
    m = re.fullmatch(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", value)
    return m.group(1) if m else value


def ingest_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if (s.get("command") or [None])[0] == "ingest"}


def env_file(tmp_path: Path, drop: str | None = None) -> Path:
    """env.example with the empty passwords filled in (one of them left out if asked)."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0]
        if name == drop:
            continue
        if name in SECRETS:
            line = f"{name}=test{name.lower().replace('_', '')}"
        lines.append(line)
    path = tmp_path / "compose.env"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the compose file's structure ------------------------------------------------------


def test_the_expected_services_and_images(services: dict[str, dict[str, Any]]) -> None:
    assert {"timescaledb", "mosquitto", "mosquitto-auth", "migrate", "api", "simulators"} <= services.keys()
    assert re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg17", services["timescaledb"]["image"])  # licensed
    assert re.fullmatch(r"eclipse-mosquitto:2\.\d+\.\d+", services["mosquitto"]["image"])
    assert services["migrate"]["command"] == ["migrate"]
    assert services["api"]["command"][:1] == ["api"]
    assert "0.0.0.0" in services["api"]["command"], "the API must listen beyond the container's loopback"


def test_two_ingest_replicas_with_distinct_ids_in_one_share_group(services: dict[str, dict[str, Any]]) -> None:
    ingests = ingest_services(services)
    assert len(ingests) >= 2
    ids = [s["environment"]["CITYSENSE_INGEST_CLIENT_ID"] for s in ingests.values()]
    groups = {resolve_default(s["environment"]["CITYSENSE_INGEST_SHARE_GROUP"]) for s in ingests.values()}
    assert len(set(ids)) == len(ids), f"client ids must differ per replica: {ids}"
    assert all("$" not in i for i in ids), "client ids must be fixed, not generated: the session belongs to them"
    assert len(groups) == 1, f"one share group for all replicas: {groups}"
    assert "" not in groups, "the share group must not be empty"
    for s in ingests.values():  # the values pass the settings' own validation
        Settings(ingest_client_id=s["environment"]["CITYSENSE_INGEST_CLIENT_ID"], ingest_share_group=next(iter(groups)))
        assert "deploy" not in s or "replicas" not in s["deploy"], "replicas would share one client id"
        assert s["environment"]["CITYSENSE_MQTT_URL"].startswith("mqtt://ingest:")


def test_every_long_running_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    for name, s in services.items():
        if name in ONE_SHOT:
            assert s.get("restart") == "no", f"{name} is one-shot: it must not be restarted"
            continue
        check = s.get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), f"{name} has its health check disabled"
        assert s.get("restart") in ("unless-stopped", "always"), f"{name} needs a restart policy"


def test_startup_order(services: dict[str, dict[str, Any]]) -> None:
    def needs(name: str, other: str, condition: str) -> None:
        assert services[name]["depends_on"][other]["condition"] == condition, (name, other)

    needs("migrate", "timescaledb", "service_healthy")
    needs("mosquitto", "mosquitto-auth", "service_completed_successfully")
    for name in [*ingest_services(services), "api"]:
        needs(name, "migrate", "service_completed_successfully")
        needs(name, "mosquitto", "service_healthy")


def test_ingest_gets_time_to_drain_on_stop(services: dict[str, dict[str, Any]]) -> None:
    from ingest.consumer import _DRAIN_TIMEOUT_S

    for name, s in ingest_services(services).items():
        grace = s.get("stop_grace_period", "10s")
        seconds = int(re.fullmatch(r"(\d+)s", grace).group(1))  # type: ignore[union-attr]
        assert seconds > _DRAIN_TIMEOUT_S, f"{name}: stop_grace_period {grace} cuts the drain short"


def test_named_volumes_for_database_and_broker_data(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose.get("volumes") or {}

    def named_volume_at(service: str, target: str) -> str:
        for v in services[service].get("volumes", []):
            source, _, rest = v.partition(":")
            if rest.split(":")[0] == target:
                assert not source.startswith((".", "/")), f"{service}:{target} is a bind mount, not a named volume"
                assert source in volumes, f"volume {source} is not declared"
                return source
        raise AssertionError(f"{service} has no volume at {target}")

    named_volume_at("timescaledb", "/var/lib/postgresql/data")
    data = named_volume_at("mosquitto", "/mosquitto/data")
    auth = named_volume_at("mosquitto", "/mosquitto/auth")
    assert named_volume_at("mosquitto-auth", "/mosquitto/auth") == auth
    assert data != auth
    conf = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    assert re.search(r"^persistence true$", conf, re.M)
    assert re.search(r"^persistence_location /mosquitto/data/$", conf, re.M)


def test_simulators_are_a_profile_and_nothing_else_is(services: dict[str, dict[str, Any]]) -> None:
    assert services["simulators"]["profiles"] == ["simulators"]
    assert services["simulators"]["command"][:1] == ["simulate"]
    assert [n for n, s in services.items() if s.get("profiles") and n != "simulators"] == []


def test_the_auth_files_it_refers_to_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, s in services.items():
        for v in s.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
    conf = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    assert re.search(r"^allow_anonymous false$", conf, re.M)
    password_file = re.search(r"^password_file (\S+)$", conf, re.M)
    acl_file = re.search(r"^acl_file (\S+)$", conf, re.M)
    assert password_file
    assert acl_file
    # Both live in the auth volume, written there by make-auth.sh from the repository's ACL.
    assert password_file.group(1) == "/mosquitto/auth/passwd"
    assert acl_file.group(1) == "/mosquitto/auth/acl"
    script = (MOSQUITTO_DIR / "make-auth.sh").read_text()
    for path in ('"$OUT/passwd"', '"$OUT/acl"', '"$SRC/acl"'):
        assert path in script
    assert (MOSQUITTO_DIR / "acl").is_file()
    assert services["mosquitto-auth"]["entrypoint"] == ["/bin/sh", "/citysense/make-auth.sh"]
    assert "./deploy/docker/mosquitto:/citysense:ro" in services["mosquitto-auth"]["volumes"]
    mounted_conf = [v for v in services["mosquitto"]["volumes"] if v.startswith("./deploy/docker/mosquitto/")]
    assert mounted_conf == ["./deploy/docker/mosquitto/mosquitto.conf:/etc/citysense/mosquitto.conf:ro"]
    assert services["mosquitto"]["command"][-1] == "/etc/citysense/mosquitto.conf"


def test_no_secret_is_committed(compose: dict[str, Any]) -> None:
    urls = 0
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), f"{key} is set literally"
            if str(value).startswith(("postgresql://", "mqtt://", "mqtts://")):
                urls += 1
                userinfo = r"\w+://(?:\$\{[^}]*\}|[^:@/$]+):\$\{\w*PASSWORD"
                assert re.match(userinfo, str(value)), f"{key}: {value} has no ${{…}} password"
    assert urls >= 6
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line
                   and not line.startswith("#"))
    for name in (*SECRETS, "MQTT_SIMULATOR_PASSWORD"):
        assert example[name] == "", f"env.example must not ship a value for {name}"


def test_env_example_lists_every_variable_the_compose_file_uses() -> None:
    code = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    used = set(_VAR.findall(code))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    missing = used - example - {"CITYSENSE_IMAGE_TAG"}
    assert not missing, f"not in deploy/docker/env.example: {sorted(missing)}"
    settings_fields = {f"CITYSENSE_{f.upper()}" for f in Settings.model_fields}
    unknown = {v for v in example if v.startswith("CITYSENSE_")} - settings_fields - {
        "CITYSENSE_LOG_LEVEL", "CITYSENSE_DB_HOST_PORT", "CITYSENSE_MQTT_HOST_PORT", "CITYSENSE_API_HOST_PORT"}
    assert not unknown, f"env.example sets CITYSENSE_* variables the settings do not have: {sorted(unknown)}"


def test_every_image_is_pinned_to_a_release(services: dict[str, dict[str, Any]]) -> None:
    """A deployment is reproducible only if `docker compose pull` cannot move it: no `latest`, no bare major."""
    images = {name: s["image"] for name, s in services.items() if "image" in s and not s.get("build")}
    images["Dockerfile"] = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)  # type: ignore[union-attr]
    loose = {name: image for name, image in images.items()
             if "latest" in image or not re.search(r":v?\d+\.\d+\.\d+", image)}
    assert not loose, f"pin these images to a release tag: {loose}"


def test_the_image_installs_the_locked_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in text


def test_dockerfile_runs_citysense_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[12](\.\d+)?-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["citysense"\]', text, re.M)
    assert "citysense-healthcheck" in text
    # The dependency layer comes before the code is copied (rebuilt only when dependencies change).
    assert text.index("pip install -r") < text.index("COPY citysense")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", "**/.env", ".venv", ".git"):
        assert entry in ignored


def test_the_image_holds_the_product_only() -> None:
    """No bench or dev-environment code in the service image: not copied, not even in the context."""
    text = (ROOT / "Dockerfile").read_text()
    copied = {line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line}
    assert {"citysense", "ingest", "api", "models", "simulators"} <= copied
    assert not copied & {"bench", "devenv", ".", "tests"}
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "bench" in ignored
    assert "devenv" in ignored


def test_operations_doc_covers_every_setting() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    missing = [f"CITYSENSE_{f.upper()}" for f in Settings.model_fields if f"`CITYSENSE_{f.upper()}`" not in doc]
    assert not missing, f"docs/operations.md does not describe {missing}"


def test_healthcheck_script_refuses_unknown_modes() -> None:
    import runpy

    module = runpy.run_path(str(DOCKER_DIR / "healthcheck.py"), run_name="healthcheck")
    assert module["main"]([]) == 2
    assert module["main"](["api", "1"]) == 1  # nothing listens on port 1


# --- docker compose config ---------------------------------------------------------------


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        ok = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [docker, "compose"] if ok else None


def _run_compose(cli: list[str], env_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: an exported POSTGRES_PASSWORD must not hide a missing one.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST")}
    return subprocess.run(
        [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(env_path), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("`docker compose` is not available (needs the docker client and its compose plugin; "
                    "no engine); the YAML checks above still ran")
    return cli


@pytest.mark.parametrize("profile", [[], ["--profile", "simulators"]], ids=["default", "simulators"])
def test_docker_compose_config_accepts_it(compose_cli: list[str], tmp_path: Path, profile: list[str]) -> None:
    result = _run_compose(compose_cli, env_file(tmp_path), *profile, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_refuses_a_missing_password(compose_cli: list[str], tmp_path: Path) -> None:
    result = _run_compose(compose_cli, env_file(tmp_path, drop="MQTT_INGEST_PASSWORD"), "config", "-q")
    assert result.returncode != 0
    assert "MQTT_INGEST_PASSWORD" in result.stderr


def test_docker_compose_config_resolves_the_replicas(compose_cli: list[str], tmp_path: Path) -> None:
    result = _run_compose(compose_cli, env_file(tmp_path), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    import json

    resolved = json.loads(result.stdout)["services"]
    envs = [s["environment"] for s in ingest_services(resolved).values()]
    assert {e["CITYSENSE_INGEST_SHARE_GROUP"] for e in envs} == {"ingest"}
    assert all(e["CITYSENSE_MQTT_URL"] == "mqtt://ingest:testmqttingestpassword@mosquitto:1883" for e in envs)


# --- the ACL and password file on a real Mosquitto -------------------------------------------

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
needs_mosquitto = pytest.mark.skipif(
    not (Path(MOSQUITTO).exists() and MOSQUITTO_PASSWD),
    reason="needs mosquitto and mosquitto_passwd (Debian package mosquitto)",
)
PASSWORDS = {"MQTT_INGEST_PASSWORD": "ingest-pw", "MQTT_API_PASSWORD": "api-pw",
             "MQTT_HEALTHCHECK_PASSWORD": "health-pw", "MQTT_POLLER_PASSWORD": "poller-pw",
             "MQTT_SIMULATOR_PASSWORD": "sim-pw"}
DEVICES = {"pow1": "pow1-pw", "shellyplus1pm-a8032ab12345": "shelly-pw", "esp8266-12345": "air-pw"}


def make_auth(src: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-auth.sh")],
        env={"PATH": os.environ["PATH"], "AUTH_SRC": str(src), "AUTH_OUT": str(out), **env},
        capture_output=True, text=True, timeout=60, check=False,
    )


def auth_source(tmp_path: Path, devices: dict[str, str]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(MOSQUITTO_DIR / "acl", src / "acl")
    (src / "devices.passwd").write_text("")  # mosquitto_passwd takes no comment lines
    for name, pw in devices.items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(src / "devices.passwd"), name, pw], check=True, timeout=30)
    return src


@needs_mosquitto
def test_make_auth_refuses_plain_text_reserved_names_and_missing_passwords(tmp_path: Path) -> None:
    src = auth_source(tmp_path, {})
    assert "MQTT_API_PASSWORD" in make_auth(src, tmp_path / "o1", MQTT_INGEST_PASSWORD="x").stderr
    with (src / "devices.passwd").open("a") as f:
        f.write("pow9:plaintext\n")
    result = make_auth(src, tmp_path / "o2", **PASSWORDS)
    assert result.returncode != 0
    assert "not hashed" in result.stderr
    (src / "devices.passwd").write_text("")
    subprocess.run([MOSQUITTO_PASSWD, "-b", str(src / "devices.passwd"), "ingest", "x"], check=True, timeout=30)
    result = make_auth(src, tmp_path / "o3", **PASSWORDS)
    assert result.returncode != 0
    assert "service user" in result.stderr
    assert not (tmp_path / "o3" / "passwd").exists()


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[int]:
    """Mosquitto with deploy/docker/mosquitto/mosquitto.conf, its paths moved into tmp_path, and the
    password file and ACL written by make-auth.sh."""
    src, out, data = auth_source(tmp_path, DEVICES), tmp_path / "auth", tmp_path / "data"
    data.mkdir()
    result = make_auth(src, out, **PASSWORDS)
    assert result.returncode == 0, result.stderr
    assert "3 device(s)" in result.stdout
    port = free_port()
    conf = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    conf = conf.replace("/mosquitto/auth/", f"{out}/").replace("/mosquitto/data/", f"{data}/")
    conf += f"\nuser {getpass.getuser()}\n"  # stay who we are (the temp dir is private)
    with Mosquitto(tmp_path / "broker", conf, port):
        yield port


class _Client:
    """A small synchronous MQTT v5 client that records what happens to it."""

    def __init__(self, port: int, user: str | None, password: str | None, client_id: str = "") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, str] = {}
        self.suback: list[str] = []
        self.connack: str | None = None
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if user is not None:
            c.username_pw_set(user, password)
        c.on_connect = lambda _c, _u, _f, rc, _p: setattr(self, "connack", str(rc))
        c.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        c.on_publish = lambda _c, _u, mid, rc, _p: self.pubacks.__setitem__(mid, str(rc))
        c.on_subscribe = lambda _c, _u, _m, rcs, _p: self.suback.extend(str(r) for r in rcs)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        self._wait(lambda: self.connack is not None, "CONNACK")

    def _wait(self, cond: Any, what: str, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what}")
            time.sleep(0.01)

    def subscribe(self, *filters: str) -> None:
        n = len(self.suback) + len(filters)
        self.client.subscribe([(f, 1) for f in filters])
        self._wait(lambda: len(self.suback) >= n, "SUBACK")

    def publish(self, topic: str, payload: bytes = b"x") -> str:
        """The PUBACK's verdict: "accepted" (Success, or No matching subscribers) or its reason."""
        mid = self.client.publish(topic, payload, qos=1).mid
        self._wait(lambda: mid in self.pubacks, "PUBACK")
        reason = self.pubacks[mid]
        return "accepted" if reason in ("Success", "No matching subscribers") else reason

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@needs_mosquitto
def test_acl_confines_devices_and_service_users(secured_broker: int) -> None:
    port = secured_broker
    assert _Client(port, None, None).connack == "Not authorized"
    assert _Client(port, "ingest", "wrong").connack == "Not authorized"
    ingest = _Client(port, "ingest", PASSWORDS["MQTT_INGEST_PASSWORD"], "ingest-acl-test")
    # The shared subscriptions ingest really makes (a few of every format's filters).
    ingest.subscribe(*(f"$share/ingest/{f}" for f in (
        "tele/+/SENSOR", "shellies/+/relay/+/power", "+/status/+", "+/events/rpc", "airrohr/+", "citysense/json/+",
        "dsmr/#")))
    assert all(r.startswith("Granted") for r in ingest.suback), ingest.suback
    api = _Client(port, "api", PASSWORDS["MQTT_API_PASSWORD"])
    api.subscribe("citysense/live/#", "tele/#")  # the second is granted but delivers nothing (no read right)

    pow1 = _Client(port, "pow1", DEVICES["pow1"])
    shelly = _Client(port, "shellyplus1pm-a8032ab12345", DEVICES["shellyplus1pm-a8032ab12345"])
    air = _Client(port, "esp8266-12345", DEVICES["esp8266-12345"])
    allowed = [
        (pow1, "tele/pow1/SENSOR"), (pow1, "citysense/json/pow1"),
        (shelly, "shellyplus1pm-a8032ab12345/status/switch:0"), (shelly, "shellyplus1pm-a8032ab12345/events/rpc"),
        (air, "airrohr/esp8266-12345"),
    ]
    denied = [
        (pow1, "tele/pow2/SENSOR"), (pow1, "citysense/json/pow2"), (pow1, "citysense/live/readings"),
        (shelly, "shellyplus1pm-other/status/switch:0"), (air, "airrohr/esp8266-99999"),
        (api, "citysense/live/readings"), (air, "tele/esp8266-1234/SENSOR"),
    ]
    for client, topic in allowed:
        assert client.publish(topic, topic.encode()) == "accepted", topic
    for client, topic in denied:
        assert client.publish(topic, topic.encode()) == "Not authorized", topic
    assert ingest.publish("citysense/live/readings", b"live") == "accepted"

    def settled() -> bool:
        return len(ingest.messages) >= len(allowed) and len(api.messages) >= 1

    ingest._wait(settled, "deliveries")
    time.sleep(0.3)  # would a denied message still arrive?
    assert sorted(t for t, _ in ingest.messages) == sorted(t for _, t in allowed)
    assert api.messages == [("citysense/live/readings", b"live")]

    health = _Client(port, "healthcheck", PASSWORDS["MQTT_HEALTHCHECK_PASSWORD"])
    health.subscribe("$SYS/broker/uptime")
    health._wait(lambda: bool(health.messages), "the retained $SYS/broker/uptime", within=15)
    for c in (ingest, api, pow1, shelly, air, health):
        c.close()


@needs_mosquitto
def test_simulator_may_publish_what_the_default_fleet_publishes(secured_broker: int) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    try:
        from simulators.fleet import load_fleet
        from simulators.testing import build_plan, topics_of
    except ImportError as exc:  # the simulators' test helpers moved
        pytest.skip(f"simulators.testing not importable: {exc}")
    start = datetime(2026, 11, 20, tzinfo=UTC)
    plan = build_plan(load_fleet(), start, start + timedelta(hours=1), 1, None, ZoneInfo("Europe/Brussels"))
    topics = topics_of(plan.events)
    assert topics
    sim = _Client(secured_broker, "simulator", PASSWORDS["MQTT_SIMULATOR_PASSWORD"])
    refused = [t for t in topics if sim.publish(t) != "accepted"]
    assert not refused, f"the ACL's simulator block misses: {refused}"
    assert sim.publish("citysense/live/readings") == "Not authorized"
    sim.close()


def test_prometheus_scrapes_the_compose_services_on_their_metrics_ports(services: dict[str, dict[str, Any]]) -> None:
    prom = services["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prom["image"]), "pin the Prometheus image"
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for sc in config["scrape_configs"] for st in sc["static_configs"] for t in st["targets"]}
    env_of = {name: s.get("environment", {}) for name, s in services.items()}
    expected = {f"{n}:{e['CITYSENSE_INGEST_METRICS_PORT']}" for n, e in env_of.items()
                if services[n].get("command") == ["ingest"]}
    expected |= {f"{n}:{e['CITYSENSE_POLL_METRICS_PORT']}" for n, e in env_of.items()
                 if services[n].get("command", [None])[0] == "poll"}
    expected.add(f"api:{services['api']['command'][-1]}")
    assert targets == expected
    for n in expected:
        host_env = env_of[n.split(":")[0]]
        assert host_env.get("CITYSENSE_INGEST_METRICS_HOST", host_env.get("CITYSENSE_POLL_METRICS_HOST", "0.0.0.0")) \
            == "0.0.0.0", f"{n} binds /metrics to its loopback only"


def test_grafana_is_pinned_and_provisioned_with_the_read_only_role(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    assert re.fullmatch(r"grafana/grafana(-oss)?:\d+\.\d+\.\d+", grafana["image"]), "pin the Grafana image"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    [datasource] = yaml.safe_load((provisioning / "datasources" / "citysense.yml").read_text())["datasources"]
    providers = yaml.safe_load((provisioning / "dashboards" / "citysense.yml").read_text())
    [path] = [p["options"]["path"] for p in providers["providers"]]
    assert mounts[path] == "./deploy/grafana/dashboards"
    # The data source reaches the compose database as the role migration 0008 creates, with the password
    # that `migrate` sets on it: one .env variable for both ends.
    assert datasource["url"] == "timescaledb:5432"
    assert datasource["user"] == "citysense_grafana"
    migration = next((ROOT / "models" / "migrations").glob("0008_*.sql")).read_text()
    assert "CREATE ROLE citysense_grafana" in migration
    env_var = datasource["secureJsonData"]["password"].lstrip("$").strip("{}")
    assert grafana["environment"][env_var] == services["migrate"]["environment"]["CITYSENSE_GRAFANA_DB_PASSWORD"]
    assert grafana["environment"][env_var].startswith("${GRAFANA_DB_PASSWORD:?")
    assert datasource["jsonData"]["database"].lstrip("$") in grafana["environment"]
    assert grafana["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert grafana["ports"] == ["${GRAFANA_HOST_PORT:-127.0.0.1:3000}:3000"], "Grafana stays on the loopback by default"
    assert "CITYSENSE_GRAFANA_DB_PASSWORD" not in services["api"]["environment"], "only migrate needs it"
