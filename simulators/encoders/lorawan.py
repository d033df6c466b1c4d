"""LoRaWAN uplinks carrying Milesight frames: The Things Stack v3 and ChirpStack v4, RFC 3339 with nanoseconds."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from models.reading import Reading
from simulators.encoders.base import Message, Sample, with_fill
from simulators.encoders.milesight import milesight_frame


def rfc3339_ns(t: int, ns: int) -> tuple[str, datetime]:
    """`2023-05-19T05:33:35.848446463Z` for t seconds + ns, and the instant ingest reads (to the µs)."""
    base = datetime.fromtimestamp(t, UTC)
    text = base.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"
    return text, base + timedelta(microseconds=ns // 1000)


# RFC 4648 base32 → Crockford's alphabet, which ULIDs use.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _ulid_time(t_ms: int) -> str:
    """The 10-character time part of a ULID (48-bit milliseconds, Crockford base32)."""
    return "".join(_CROCKFORD_CHARS[(t_ms >> (5 * i)) & 31] for i in range(9, -1, -1))


_CROCKFORD_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CORRELATION_PREFIXES = ("as:up", "gs:conn", "gs:up:host", "gs:uplink", "ns:uplink",
                         "rpc:/ttn.lorawan.v3.GsNs/HandleUplink", "rpc:/ttn.lorawan.v3.NsAs/HandleUplink")


def _correlation_ids(t_ms: int, seed: int) -> str:
    """The seven ULID-shaped correlation ids of an uplink, as The Things Stack lists them (80 random bits each,
    deterministic here: all seven from one digest)."""
    noise = hashlib.blake2b(seed.to_bytes(16, "little", signed=True), digest_size=64).digest()[:60]
    noise += hashlib.blake2b(noise, digest_size=10).digest()
    randoms = base64.b32encode(noise).translate(_CROCKFORD).decode("ascii")  # 70 bytes: 112 characters
    stamp = _ulid_time(t_ms)
    return ", ".join(f'"{p}:{stamp}{randoms[16 * i : 16 * i + 16]}"' for i, p in enumerate(_CORRELATION_PREFIXES))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _gateway(s: Sample) -> tuple[str, str, int, float]:
    gw = str(s.sensor.meta("gateway_eui", "6A7E111A10000000" if s.sensor.district == "Leuven" else "6A7E111A10000002"))
    return gw, gw.lower(), -118 + int(s.u[1] * 80), round(-7.0 + 20.0 * s.u[2], 1)


def ttn(s: Sample) -> list[Message]:
    frame, values = milesight_frame(s)
    dev = s.sensor.device
    app = str(s.sensor.meta("application", "citysense-leuven"))
    default_eui = dev[4:] if dev.startswith("eui-") else hashlib.blake2b(dev.encode(), digest_size=8).hexdigest()
    dev_eui = str(s.sensor.meta("dev_eui", default_eui)).upper()
    gw_eui, gw_lower, rssi, snr = _gateway(s)
    gw_ns = int(s.u[3] * 1e6) * 1000 + 982000
    gw_time, _ = rfc3339_ns(s.t, gw_ns)
    gw_time = gw_time[:-4] + "Z"  # gateways time-stamp to the µs
    gw_rx, _ = rfc3339_ns(s.t, gw_ns - 1_598_319)
    ns_at, _ = rfc3339_ns(s.t, gw_ns + 32_859_782)
    as_ns = gw_ns + 239_464_481 + int(s.u[4] * 1e8)
    as_at, when = rfc3339_ns(s.t + as_ns // 1_000_000_000, as_ns % 1_000_000_000)
    t_ms = s.t * 1000 + gw_ns // 1_000_000
    corr = _correlation_ids(t_ms, (s.index << 20) ^ int(s.u[3] * (1 << 20)))
    stamp = (s.t * 1_000_000 + gw_ns // 1000) % 2**32
    token = _b64(b"\n\"\n \n\x14eui-" + gw_lower.encode() + struct.pack("<Q", stamp) + bytes(16))
    airtime = "0.056576s" if len(frame) < 20 else "0.097536s"
    body = f"""{{
  "end_device_ids": {{
    "device_id": "{dev}",
    "application_ids": {{
      "application_id": "{app}"
    }},
    "dev_eui": "{dev_eui}",
    "join_eui": "{s.sensor.meta("join_eui", "24E124C0002A0001")}",
    "dev_addr": "{s.sensor.meta("dev_addr", "260B" + dev_eui[-4:])}"
  }},
  "correlation_ids": [{corr}],
  "received_at": "{as_at}",
  "uplink_message": {{
    "session_key_id": "{_b64(dev_eui.encode()[:16])}",
    "f_port": 85,
    "f_cnt": {s.index % 2**32},
    "frm_payload": "{_b64(frame)}",
    "rx_metadata": [{{
      "gateway_ids": {{
        "gateway_id": "eui-{gw_lower}",
        "eui": "{gw_eui}"
      }},
      "time": "{gw_time}",
      "timestamp": {stamp},
      "rssi": {rssi},
      "channel_rssi": {rssi},
      "snr": {snr},
      "frequency_offset": "{int(s.u[5] * 200) - 100}",
      "uplink_token": "{token}",
      "channel_index": {int(s.u[6] * 8)},
      "received_at": "{gw_rx}"
    }}],
    "settings": {{
      "data_rate": {{
        "lora": {{
          "bandwidth": 125000,
          "spreading_factor": {7 + int(s.u[7] * 3)},
          "coding_rate": "4/5"
        }}
      }},
      "frequency": "{(867100000, 867300000, 867500000, 867700000, 868100000)[int(s.u[6] * 5)]}",
      "timestamp": {stamp},
      "time": "{gw_time}"
    }},
    "received_at": "{ns_at}",
    "consumed_airtime": "{airtime}",
    "network_ids": {{
      "net_id": "000013",
      "tenant_id": "ttn",
      "cluster_id": "eu1",
      "cluster_address": "eu1.cloud.thethings.network"
    }}
  }}
}}"""
    sid = s.sensor.id
    topic = f"v3/{app}@ttn/devices/{dev}/up"
    readings = tuple(Reading(sid, m, x, when) for m, x in values)
    return [Message(topic, body.encode(), with_fill(s, readings), (as_ns / 1e9) + 0.01)]


def _uuid(u: Sequence[float], salt: int) -> str:
    a = int(u[0] * 2**32) ^ (salt * 2654435761 & 0xFFFFFFFF)
    b = int(u[1] * 2**32)
    c = int(u[2] * 2**32)
    d = int(u[3] * 2**32)
    h = f"{a:08x}{b:08x}{c:08x}{d:08x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(u[4] * 4)]}{h[17:20]}-{h[20:32]}"


def chirpstack(s: Sample) -> list[Message]:
    frame, values = milesight_frame(s)
    eui = s.sensor.device
    app_id = str(s.sensor.meta("application_id", "ca739e26-7b67-4f14-b69e-d568c22a5a75"))
    us = int(s.u[3] * 1e6)
    when = datetime.fromtimestamp(s.t, UTC) + timedelta(microseconds=us)
    stamp = when.isoformat(timespec="microseconds")
    _, gw_lower, rssi, snr = _gateway(s)
    body = f"""{{
  "deduplicationId": "{_uuid(s.u, s.index)}",
  "time": "{stamp}",
  "deviceInfo": {{
    "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
    "tenantName": "ChirpStack",
    "applicationId": "{app_id}",
    "applicationName": "{s.sensor.meta("application_name", "Leuven bins")}",
    "deviceProfileId": "605d08d4-65f5-4d2c-8a5a-3d2457662f79",
    "deviceProfileName": "Milesight {s.sensor.model}",
    "deviceName": "{s.sensor.meta("device_name", s.sensor.model + " " + eui[-4:])}",
    "devEui": "{eui}",
    "tags": {{}}
  }},
  "devAddr": "{s.sensor.meta("dev_addr", "0" + eui[-7:])}",
  "adr": true,
  "dr": {5 - int(s.u[7] * 3)},
  "fCnt": {s.index % 2**32},
  "fPort": 85,
  "confirmed": false,
  "data": "{_b64(frame)}",
  "rxInfo": [{{
    "gatewayId": "{gw_lower}",
    "uplinkId": {int(s.u[4] * 65535)},
    "time": "{stamp}",
    "rssi": {rssi},
    "snr": {snr},
    "channel": {int(s.u[6] * 8)},
    "rfChain": {int(s.u[5] * 2)},
    "location": {{}},
    "context": "{_b64(struct.pack(">I", (s.t * 1000 + us // 1000) % 2**32))}",
    "metadata": {{
      "region_common_name": "EU868",
      "region_config_id": "eu868"
    }},
    "crcStatus": "CRC_OK"
  }}],
  "txInfo": {{
    "frequency": {(868100000, 868300000, 868500000, 867100000, 867300000)[int(s.u[6] * 5)]},
    "modulation": {{
      "lora": {{
        "bandwidth": 125000,
        "spreadingFactor": {7 + int(s.u[7] * 3)},
        "codeRate": "CR_4_5"
      }}
    }}
  }}
}}"""
    sid = s.sensor.id
    readings = tuple(Reading(sid, m, x, when) for m, x in values)
    topic = f"application/{app_id}/device/{eui}/event/up"
    return [Message(topic, body.encode(), with_fill(s, readings), us / 1e6 + 0.15 + 0.2 * s.u[0])]
