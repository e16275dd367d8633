"""``telemetry audit export|verify`` (CONTRACT §1, docs/audit.md): both read the log file only
(no store lock), so they work while ``telemetry serve`` runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from telemetry.audit.chain import check_chain
from telemetry.audit.log import iter_records, select
from telemetry.audit.signing import KeyRing, key_id, load_or_create_key, public_from_b64
from telemetry.config import load_settings
from telemetry.instants import epoch_ms


def add_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="export or verify the hash-chained audit log")
    asub = audit.add_subparsers(dest="action", required=True)
    export = asub.add_parser("export", help="the audit log as JSON lines, with the public key last")
    export.add_argument("--config", help="TOML configuration file (default: embedded defaults)")
    export.add_argument("--from", dest="from_", metavar="T", help="RFC 3339: records at or after T")
    export.add_argument("--to", metavar="T", help="RFC 3339: records before T")
    export.add_argument("--out", required=True, help="the export file (JSON lines)")
    verify = asub.add_parser("verify", help="check the chain and every checkpoint signature")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="verify the configured log with the configured key")
    source.add_argument("--file", help="verify an export (its last line holds the public key)")


def _fail(reason: str) -> int:
    print(f"error: audit: {reason}", file=sys.stderr)
    return 2


def _time(value: str | None, name: str) -> int | None:
    if not value:
        return None
    from datetime import datetime  # noqa: PLC0415

    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"--{name}: give an offset (e.g. Z or +08:00)")
    return epoch_ms(dt)


def _paths(config: str | None) -> tuple[Path, Path]:
    settings = load_settings(config)
    return settings.audit.log_path(settings.store.path), settings.audit.key_path(settings.store.path)


def export(args: argparse.Namespace) -> int:
    try:
        start, end = _time(args.from_, "from"), _time(args.to, "to")
    except ValueError as exc:
        return _fail(str(exc))
    log_path, key_path = _paths(args.config)
    if not log_path.exists():
        return _fail(f"{log_path}: no audit log")
    if not key_path.exists():
        return _fail(f"{key_path}: no audit key")
    from telemetry.audit.signing import public_b64  # noqa: PLC0415

    try:
        public = load_or_create_key(key_path).public_key()
    except ValueError as exc:
        return _fail(f"{key_path}: {exc}")
    n = 0
    with Path(args.out).open("w", encoding="utf-8") as out:
        for rec in select(log_path, start, end):
            out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
        out.write(json.dumps({"public_key": public_b64(public), "key_id": key_id(public)}) + "\n")
    print(f"{args.out}: {n} records")
    return 0


def _export_keys(path: Path) -> KeyRing:
    keys = {}
    with path.open("rb") as f:
        for raw in f:
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict) and "public_key" in item and "seq" not in item:
                try:
                    key = public_from_b64(str(item["public_key"]))
                except ValueError:
                    continue
                keys[key_id(key)] = key  # the id is recomputed, never taken from the file
    return KeyRing(keys)


def verify(args: argparse.Namespace) -> int:
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            return _fail(f"{path}: no such file")
        ring = _export_keys(path)
    else:
        path, key_path = _paths(args.config)
        if not path.is_file():
            return _fail(f"{path}: no audit log")
        ring = KeyRing({})
        if key_path.exists():
            try:
                public = load_or_create_key(key_path).public_key()
            except ValueError as exc:
                return _fail(f"{key_path}: {exc}")
            ring = KeyRing({key_id(public): public})
    count, broken = check_chain(iter_records(path), ring)
    if broken is not None:
        print(f"{path}: BROKEN at {broken} ({count} records verified before it)")
        return 1
    print(f"{path}: ok, {count} records, chain and checkpoint signatures hold")
    return 0


def run(args: argparse.Namespace) -> int:
    return export(args) if args.action == "export" else verify(args)
