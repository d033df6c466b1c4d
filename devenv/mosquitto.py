"""The one Mosquitto launcher: the binary, the shipped config, and a broker run in the foreground.

`Mosquitto` runs a broker from any config text on a loopback port and stops it again; the
integration tests (their session broker, the TLS broker, the deployment test's secured broker)
and the bench use it. `PrivateBroker` is the shipped configuration
(deploy/mosquitto/citysense.conf) on a free port, so a test run or a benchmark never touches the
sessions of the broker that `citysense services up` runs; that one is started from the same
binary and template, as a daemon (devenv.local_services), and probed with `answers_mqtt`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from citysense.endpoints import LOCAL_MQTT_PORT, MqttEndpoint
from devenv import layout as sl
from devenv.layout import render_mosquitto_conf
from devenv.processes import STOP_TIMEOUT, alive, fail, port_open, read_pid, run_tool, say, tail, wait_gone

MOSQUITTO = "/usr/sbin/mosquitto"
TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "citysense.conf"
MQTT_START_TIMEOUT = 20.0


def version() -> str:
    """The installed Mosquitto's version, "?" when there is none."""
    try:
        out = run_tool([MOSQUITTO, "-h"], timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for line in out.splitlines():
        if line.startswith("mosquitto version"):
            return line.split()[-1]
    return "?"


def answers_mqtt(host: str, port: int, timeout: float = 3.0) -> bool:
    """A real MQTT v5 CONNECT/CONNACK, not just an open port."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    result: dict[str, bool] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        result["ok"] = not reason_code.is_failure

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"citysense-services-probe-{os.getpid()}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + timeout
        while "ok" not in result and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    except OSError:
        return False
    finally:
        # Sends DISCONNECT when connected and closes the socket either way.
        with contextlib.suppress(Exception):
            client.disconnect()
    return result.get("ok", False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], within: float = 10.0) -> bool:
    """True once something accepts connections on the loopback `port`; False when `proc` (the
    server meant to listen there) ended first or `within` seconds passed."""
    deadline = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def override_option(conf: str, option: str, value: str) -> str:
    """The config with every `option …` line set to `value` (appended when absent)."""
    lines = conf.splitlines()
    hits = [i for i, line in enumerate(lines) if line.split()[:1] == [option]]
    for i in hits:
        lines[i] = f"{option} {value}"
    if not hits:
        lines.append(f"{option} {value}")
    return "\n".join(lines) + "\n"


class Mosquitto:
    """Mosquitto in the foreground with the config `conf` (written to `directory`), listening on the
    loopback `port`. What it prints goes to `directory/mosquitto.out` (a config error is only there)."""

    def __init__(self, directory: Path, conf: str, port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.port = port
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(conf)
        self.output = directory / "mosquitto.out"
        self.log = directory / "mosquitto.log"  # where PrivateBroker's config logs; others may not log at all
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.port, tls=False)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, within: float = 10.0) -> None:
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT)
        if wait_listening(self.port, self.proc, within):
            return
        self.stop()
        raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self._read(self.output)}"
                           f"{self._read(self.log)}")

    @staticmethod
    def _read(path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def log_count(self, needle: str) -> int:
        """How many lines of the broker's log hold `needle`."""
        try:
            return sum(needle in line for line in self.log.read_text(errors="replace").splitlines())
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class PrivateBroker(Mosquitto):
    """The shipped config template on a free loopback port, state in `directory`."""

    def __init__(self, directory: Path, max_packet_size: int | None = None) -> None:
        port = free_port()
        text = render_mosquitto_conf(
            TEMPLATE.read_text(), port=port, persistence_dir=directory / "data",
            pid_file=directory / "mosquitto.pid", log_file=directory / "mosquitto.log", user=getpass.getuser(),
        )
        if max_packet_size is not None:
            text = override_option(text, "max_packet_size", str(max_packet_size))
        (directory / "data").mkdir(parents=True, exist_ok=True)
        super().__init__(directory, text, port)


# --- the daemon of `citysense services` ------------------------------------------------------


def daemon_pid(layout: sl.Layout) -> int | None:
    pid = read_pid(layout.mosquitto_pid)
    return pid if alive(pid, ("mosquitto",)) else None


def up(layout: sl.Layout, overrides: sl.Overrides) -> None:
    if overrides.mqtt_url:
        say(f"mosquitto: not started, using {sl.MQTT_URL_VAR}={sl.mask_password(overrides.mqtt_url)}")
        return
    where = f"{sl.LOOPBACK}:{LOCAL_MQTT_PORT}"
    installed = version()
    pid = daemon_pid(layout)
    if pid is not None:
        if not answers_mqtt(sl.LOOPBACK, LOCAL_MQTT_PORT):
            fail(
                f"mosquitto (pid {pid}) is running but does not answer MQTT on {where}; "
                f"see {layout.mosquitto_log}, or run `citysense services down` first"
            )
        say(f"mosquitto ({installed}) on {where} — already running (pid {pid})")
        return
    if not Path(MOSQUITTO).exists():
        fail(f"{MOSQUITTO} not found; run scripts/bootstrap.sh (installs the Debian package mosquitto)")
    if port_open(sl.LOOPBACK, LOCAL_MQTT_PORT):
        fail(
            f"port {LOCAL_MQTT_PORT} is already in use by another process (not the broker of "
            f"{layout.state_dir}); stop it, or set {sl.MQTT_URL_VAR} to use it"
        )

    layout.mosquitto_persistence.mkdir(parents=True, exist_ok=True)
    layout.mosquitto_pid.unlink(missing_ok=True)
    try:
        template = TEMPLATE.read_text()
    except OSError as exc:
        fail(f"cannot read the Mosquitto template {TEMPLATE}: {exc}")
    conf = sl.render_mosquitto_conf(
        template,
        persistence_dir=layout.mosquitto_persistence,
        pid_file=layout.mosquitto_pid,
        log_file=layout.mosquitto_log,
        user=pwd.getpwuid(os.geteuid()).pw_name,
    )
    layout.mosquitto_conf.write_text(conf)
    started = run_tool([MOSQUITTO, "-c", str(layout.mosquitto_conf), "-d"], timeout=30)
    if started.returncode != 0:
        fail(
            f"mosquitto failed to start (exit {started.returncode}):\n"
            f"{(started.stderr + started.stdout).strip()}\nlog: {layout.mosquitto_log}\n"
            f"{tail(layout.mosquitto_log)}"
        )
    deadline = time.monotonic() + MQTT_START_TIMEOUT
    while time.monotonic() < deadline:
        if answers_mqtt(sl.LOOPBACK, LOCAL_MQTT_PORT, timeout=1.0):
            say(f"mosquitto ({installed}) on {where} — ready (pid {read_pid(layout.mosquitto_pid)})")
            return
        time.sleep(0.2)
    fail(
        f"mosquitto did not accept an MQTT connection on {where} within {MQTT_START_TIMEOUT:.0f}s; "
        f"see {layout.mosquitto_log}:\n{tail(layout.mosquitto_log)}"
    )


def down(layout: sl.Layout) -> None:
    pid = daemon_pid(layout)
    if pid is None:
        layout.mosquitto_pid.unlink(missing_ok=True)
        say("mosquitto: not running")
        return
    # SIGTERM, never SIGKILL first: mosquitto writes its persistence file on a
    # clean exit, which is what keeps queued QoS1 messages across a restart.
    os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, ("mosquitto",), STOP_TIMEOUT):
        fail(f"mosquitto (pid {pid}) did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM; see {layout.mosquitto_log}")
    layout.mosquitto_pid.unlink(missing_ok=True)
    say(f"mosquitto: stopped (was pid {pid})")
