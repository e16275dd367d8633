"""The audit log's file: canonical bytes, the chain across restarts, checkpoints, torn records
cut and recorded (also after a real SIGKILL), thread-safe appends."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from telemetry.audit.chain import GENESIS, canonical, check_chain, record_hash
from telemetry.audit.log import AuditLog, iter_records
from telemetry.audit.signing import KeyRing, key_id, load_or_create_key


def ring(key_file: Path) -> KeyRing:
    public = load_or_create_key(key_file).public_key()
    return KeyRing({key_id(public): public})


def records(path: Path) -> list[dict[str, object]]:
    return list(iter_records(path))


def test_the_hashed_bytes_are_the_documented_ones(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl", tmp_path / "k", clock=lambda: 1_764_642_600_123) as audit:
        audit.record("duty-07", "alert_ack", "flood:G04", {"kind": "flood", "note": "Zoë"})
    first = records(tmp_path / "a.jsonl")[0]
    expected = (
        '{"action":"alert_ack","actor":"duty-07","data":{"kind":"flood","note":"Zoë"},'
        '"prev":"' + GENESIS + '","seq":0,"subject":"flood:G04","time":"2025-12-02T02:30:00.123Z"}'
    ).encode()
    assert canonical({k: v for k, v in first.items() if k != "hash"}) == expected
    assert first["hash"] == hashlib.sha256(expected).hexdigest() == record_hash(first)


def test_the_chain_holds_across_three_restarts(tmp_path: Path) -> None:
    path, key = tmp_path / "audit" / "audit.jsonl", tmp_path / "audit.key"
    for run in range(3):
        with AuditLog(path, key, checkpoint_every=4) as audit:
            for i in range(5):
                audit.record(f"user-{run}", "test", str(i), {"run": run, "i": i})
    recs = records(path)
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    assert [r["action"] for r in recs].count("checkpoint") == 6  # every 4 records and at each close
    assert check_chain(recs, ring(key)) == (len(recs), None)
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_torn_last_record_is_reported_cut_and_recorded(tmp_path: Path, caplog: object) -> None:
    path, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    with AuditLog(path, key) as audit:
        audit.record("duty-07", "test", "x", {"i": 1})
    whole = path.read_bytes()
    with path.open("ab") as f:  # what a SIGKILL in the middle of a write leaves
        f.write(b'{"seq":2,"time":"2025-12-02T02:30:00.123Z","actor":"du')
    with AuditLog(path, key) as audit:
        audit.record("duty-07", "test", "y", {"i": 2})
    recs = records(path)
    cut = [r for r in recs if r["action"] == "audit_truncated"]
    assert len(cut) == 1
    assert cut[0]["data"] == {"offset": len(whole), "bytes_removed": 54}
    assert check_chain(recs, ring(key)) == (len(recs), None)
    assert "torn last record cut" in caplog.text  # type: ignore[attr-defined]


def test_a_real_sigkill_mid_append_leaves_a_chain_that_verifies(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    script = (
        "import sys; from pathlib import Path; from telemetry.audit.log import AuditLog\n"
        "a = AuditLog(Path(sys.argv[1]), Path(sys.argv[2]), checkpoint_every=7).open()\n"
        "print('open', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    a.record('duty-07', 'loop', str(i), {'pad': 'x' * 5000, 'i': i}); i += 1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(key)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "open"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    torn = not path.read_bytes().endswith(b"\n")
    with AuditLog(path, key) as audit:
        audit.record("duty-07", "after", "kill", {})
    recs = records(path)
    assert len(recs) > 3
    assert [r["action"] for r in recs].count("audit_truncated") == (1 if torn else 0)
    assert check_chain(recs, ring(key)) == (len(recs), None)


def test_appends_from_threads_keep_one_chain(tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    with AuditLog(path, key, checkpoint_every=10) as audit:

        def append(n: int) -> None:
            for i in range(50):
                audit.record(f"t{n}", "x", str(i), {})

        threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    recs = records(path)
    assert sum(r["action"] == "x" for r in recs) == 200
    assert check_chain(recs, ring(key)) == (len(recs), None)


def test_an_hour_without_a_checkpoint_makes_one(tmp_path: Path) -> None:
    now = [0]
    with AuditLog(tmp_path / "a.jsonl", tmp_path / "k", clock=lambda: now[0]) as audit:
        audit.record("a", "x", "1", {})
        now[0] = 3_600_000
        audit.record("a", "x", "2", {})
        assert [r["action"] for r in records(tmp_path / "a.jsonl")] == ["x", "x", "checkpoint"]


def test_nothing_is_opened_before_open(tmp_path: Path) -> None:
    AuditLog(tmp_path / "a.jsonl", tmp_path / "k")
    assert os.listdir(tmp_path) == []


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl", tmp_path / "k"):
        script = (
            "import sys; from pathlib import Path; from telemetry.audit.log import AuditLog\n"
            "AuditLog(Path(sys.argv[1]), Path(sys.argv[2])).open()\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "a.jsonl"), str(tmp_path / "k")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert r.returncode != 0
        assert "another process writes this audit log" in r.stderr
