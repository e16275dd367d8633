"""MQTT over TLS with user names, passwords and the ACL of docs/mosquitto.acl: a real Mosquitto
with a TLS listener and a CA and server certificate made at test time; the service connects with
`mqtts://`, `[mqtt] ca_file`, user name and password and ingests end to end into the store."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, find_binary

pytestmark = pytest.mark.integration
ACL = Path(__file__).parent.parent / "docs" / "mosquitto.acl"
USERS = {"telemetry": "service-secret", "G01": "g01-secret", "G02": "g02-secret", "alerts": "alerts-secret"}
AUTH = {"Authorization": "Bearer v"}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    paths[2].chmod(0o600)
    return paths


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    passwd_bin = find_binary("mosquitto_passwd")
    if passwd_bin is None:
        pytest.fail("mosquitto_passwd is not installed (Debian package mosquitto)")
    folder = tmp_path / "tls"
    folder.mkdir()
    ca, cert, key = make_ca_and_server_cert(folder)
    passwd = folder / "passwd"
    passwd.touch(0o600)
    for user, password in USERS.items():
        subprocess.run([passwd_bin, "-b", str(passwd), user, password], check=True, capture_output=True)
    broker = Mosquitto(
        tmp_path / "mosquitto",
        anonymous=False,
        extra_conf=(
            f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
            f"password_file {passwd}\nacl_file {ACL}\nlog_type notice\nconnection_messages true\n"
        ),
    )
    broker.start()
    try:
        yield broker, ca
    finally:
        broker.stop()


def device_client(port: int, ca: Path, user: str, password: str) -> mqtt.Client:
    # MQTT 5: Mosquitto 2.0.11 answers a denied QoS-1 publish with PUBACK reason 135 (not
    # authorized) even to MQTT 3.1.1 clients, and then closes the connection.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{user}", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(ca))
    client.username_pw_set(user, password)
    connected: list[bool] = []
    client.on_connect = lambda c, u, f, reason, p: connected.append(not reason.is_failure)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(lambda: bool(connected), 10, f"{user} connected")
    assert connected == [True], f"{user} refused"
    return client


def publish(client: mqtt.Client, topic: str, payload: dict[str, Any]) -> None:
    info = client.publish(topic, json.dumps(payload), qos=1)
    info.wait_for_publish(timeout=10)


def service(broker: Mosquitto, ca: Path, tmp: Path, url: str, password: str, name: str) -> TestClient:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp / name / "store")},
            "spool": {"path": str(tmp / name / "spool")},
            "mqtt": {
                "url": url,
                "ca_file": str(ca),
                "username": "telemetry",
                "password": password,
                "client_id": f"telemetry-{name}",
            },
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
        }
    )
    return TestClient(create_app(settings, registry=load_registry(sample_assets_dir())))


def mqtt_state(c: TestClient) -> dict[str, str]:
    state: dict[str, str] = c.get("/readyz").json()["components"]["mqtt"]
    return state


def count(c: TestClient, device: str) -> int:
    params = {"device": device, "fn": "count", "field": "depth_cm"}
    items = c.get("/api/v1/series/water_depth", params=params, headers=AUTH).json()["items"]
    return int(items[0]["depth_cm"]) if items else 0


def test_service_ingests_over_tls_with_a_password_and_devices_write_only_their_topics(
    tls_broker: tuple[Mosquitto, Path], tmp_path: Path
) -> None:
    broker, ca = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    with service(broker, ca, tmp_path, url, USERS["telemetry"], "good") as c:
        wait_until(lambda: mqtt_state(c)["state"] == "up", 15, "the collector connected over TLS")
        alerts = device_client(broker.port, ca, "alerts", USERS["alerts"])
        received: list[tuple[str, dict[str, Any]]] = []
        alerts.on_message = lambda cl, u, m: received.append((m.topic, json.loads(m.payload)))
        alerts.subscribe("city/haishu/alert/#", qos=1)
        now = int(time.time() * 1000)
        spoof = device_client(broker.port, ca, "G01", USERS["G01"])
        gone: list[bool] = []
        spoof.on_disconnect = lambda *a: gone.append(True)
        not_its_own = {"ts": now - 2000, "depth_cm": 99.0}
        publish(spoof, "city/haishu/gauge/G02/telemetry", not_its_own)
        wait_until(lambda: bool(gone), 10, "the broker dropping the client that wrote G02's topic")
        spoof.disconnect()
        spoof.loop_stop()
        g01 = device_client(broker.port, ca, "G01", USERS["G01"])
        try:
            for k in range(5):
                publish(g01, "city/haishu/gauge/G01/telemetry", {"ts": now - 1000 + k, "depth_cm": 40.0 + k})
            wait_until(lambda: count(c, "G01") == 5, 15, "G01's readings stored")
            assert count(c, "G02") == 0  # the broker's ACL dropped G01's write to G02's topic
            # The service writes its retained alert topic; a reader allowed only alerts sees it.
            wait_until(
                lambda: any(p.get("level") == "red" for t, p in received if t.endswith("/flood/G01")),
                15,
                "the red alert of G01",
            )
        finally:
            for cl in (g01, alerts):
                cl.disconnect()
                cl.loop_stop()


def test_a_wrong_password_and_plain_mqtt_to_the_tls_port_are_refused(
    tls_broker: tuple[Mosquitto, Path], tmp_path: Path
) -> None:
    broker, ca = tls_broker
    with service(broker, ca, tmp_path, f"mqtts://127.0.0.1:{broker.port}", "not-the-password", "bad") as c:
        wait_until(
            lambda: "Not authorized" in mqtt_state(c)["detail"], 15, "the broker refusing the password"
        )
        assert mqtt_state(c)["state"] == "down"
        assert c.get("/readyz").status_code == 503
    log = broker.dir / "mosquitto.log"
    before = log.read_text(errors="replace").count("wrong version number")
    with service(broker, ca, tmp_path, f"mqtt://127.0.0.1:{broker.port}", USERS["telemetry"], "plain") as c:
        wait_until(
            lambda: log.read_text(errors="replace").count("wrong version number") > before,
            15,
            "the TLS listener refusing a plain MQTT connection",
        )
        assert mqtt_state(c)["state"] != "up"
        assert c.get("/readyz").status_code == 503
