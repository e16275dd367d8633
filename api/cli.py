"""The ``telemetry`` command (CONTRACT §1). Exit status: 0 success, 2 usage or configuration
error (reason on stderr), 1 runtime failure."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from api import cli_audit
from telemetry.config import Settings, load_settings, production_problems
from telemetry.errors import ConfigError, TelemetryError

log = logging.getLogger("telemetry")


def _log_level(value: str) -> str:
    """A logging level's name (any case): argparse turns the refusal into a usage error, exit 2."""
    name = value.upper()
    if name not in logging.getLevelNamesMapping():
        raise argparse.ArgumentTypeError(f"unknown level {value!r}: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return name


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="telemetry", description="City telemetry service")
    p.add_argument("--log-level", type=_log_level, default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service: collectors, pipeline, API")
    serve.add_argument("--config", help="TOML configuration file (default: embedded defaults)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="MQTT ingest processes on one shared subscription (> 1 needs an InfluxDB store)",
    )

    demo = sub.add_parser("demo", help="everything on one machine, no server needed")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--port", type=int, default=8000, help="API port on 127.0.0.1 (default 8000)")
    demo.add_argument("--data", default="data/demo", help="embedded store folder (default data/demo)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--storm-every", type=float, default=480.0, help="seconds between storm cells (default 480)"
    )

    sim = sub.add_parser("simulate", help="simulated devices")
    simsub = sim.add_subparsers(dest="device", required=True)
    sensors = simsub.add_parser("sensors", help="gauges, toilets and vehicles over MQTT")
    sensors.add_argument("--broker", required=True, help="mqtt://HOST[:PORT]")
    sensors.add_argument("--root", default="city/haishu")
    sensors.add_argument(
        "--scenario",
        default="normal",
        help="normal, rainstorm, sweepers, toilet-rush (comma-separated to combine)",
    )
    sensors.add_argument("--seed", type=int, default=1)
    sensors.add_argument(
        "--rate", type=float, default=1.0,
        help="wake-ups per second, each publishing what is due (default 1); devices keep their own rates",
    )  # fmt: skip
    sensors.add_argument(
        "--gps-interval", type=float, default=15.0, metavar="S",
        help="seconds between a vehicle's GPS fixes (default 15; terminals report every 10-30 s); "
        "gauges report every 5 min dry and every minute wet, toilet counters every minute",
    )  # fmt: skip
    sensors.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")

    officers = simsub.add_parser("officers", help="duty officers who patrol, take assignments and report")
    officers.add_argument("--broker", required=True, help="mqtt://HOST[:PORT]")
    officers.add_argument("--root", default="city/haishu")
    officers.add_argument("--count", type=int, default=6, help="officers (default 6: OF-01..OF-06)")
    officers.add_argument("--seed", type=int, default=1)
    officers.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")

    drone = simsub.add_parser("drone", help="one quadrotor speaking MAVLink 2 as ArduPilot or PX4")
    drone.add_argument("--connect", required=True, help="pymavlink URL, e.g. udpout:127.0.0.1:14550")
    drone.add_argument("--sysid", type=int, default=1)
    drone.add_argument("--home", default="29.8737,121.5453", help="LAT,LON")
    drone.add_argument("--speed", type=float, default=8.0, help="m/s")
    drone.add_argument("--drop", type=float, default=0.0, help="probability of dropping a sent packet")
    drone.add_argument("--seed", type=int, default=1)
    drone.add_argument("--signing-key", default="", help="64 hex digits: sign, and refuse unsigned")
    drone.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    drone.add_argument(
        "--autopilot", choices=("ardupilot", "px4"), default="ardupilot",
        help="whose mission semantics, modes and protocol quirks to follow (docs/autopilots.md)",
    )  # fmt: skip

    rep = sub.add_parser("replay", help="ingest a recorded MAVLink log with its original timestamps")
    rep.add_argument("file")
    rep.add_argument("--config", help="TOML configuration file (default: embedded defaults)")

    mission = sub.add_parser("mission", help="plan and convert missions offline")
    msub = mission.add_subparsers(dest="action", required=True)
    plan = msub.add_parser("plan", help="plan a mission and write .plan, .waypoints or .geojson")
    plan.add_argument("--type", choices=("points", "survey"), required=True)
    plan.add_argument("--points", help="points: LON,LAT;LON,LAT;...")
    plan.add_argument("--area", help="survey: a GeoJSON file with a Polygon (Feature or geometry)")
    plan.add_argument("--altitude", type=float, required=True, help="height above ground, m")
    plan.add_argument("--loiter", type=float, default=0.0, help="points: seconds at each point")
    plan.add_argument("--front", type=float, default=0.7, help="survey: front overlap")
    plan.add_argument("--side", type=float, default=0.6, help="survey: side overlap")
    plan.add_argument("--speed", type=float, default=8.0, help="m/s")
    plan.add_argument("--config", help="TOML configuration (DEM, airports, assets)")
    plan.add_argument("--out", required=True, help="FILE.plan, FILE.waypoints or FILE.geojson")
    conv = msub.add_parser("convert", help="convert between .plan, .waypoints and .geojson by suffix")
    conv.add_argument("input")
    conv.add_argument("output")

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")

    hashing = sub.add_parser("hash-token", help="print a new API token and its [[api.tokens]] entry")
    hashing.add_argument("--role", choices=("viewer", "manager", "pilot", "admin"), default="viewer")
    hashing.add_argument("--user", default="", help="the person the token's actions are recorded for")
    hashing.add_argument("--stdin", action="store_true", help="hash a token read from stdin instead")
    cli_audit.add_parser(sub)
    return p


def _fail(problems: list[tuple[str, str]]) -> int:
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 2


def _hash_token(role: str, user: str, from_stdin: bool) -> int:
    import secrets  # noqa: PLC0415

    from telemetry.config import TokenConfig, token_sha256  # noqa: PLC0415

    token = sys.stdin.readline().strip() if from_stdin else secrets.token_urlsafe(32)
    if len(token) < 32:  # a stored digest is only as strong as its token
        return _fail([("hash-token", "a token needs at least 32 characters of randomness")])
    print(f"token: {token}")
    entry = {"token_sha256": token_sha256(token), "role": role} | ({"user": user} if user else {})
    try:
        TokenConfig.model_validate(entry)
    except ValueError:
        return _fail([("hash-token", "--user: at most 64 characters, no control characters")])
    print("[[api.tokens]]")
    for key, value in entry.items():
        print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return 0


def _serve(settings: Settings, workers: int = 1) -> int:
    import uvicorn  # noqa: PLC0415 - only the serving commands need it

    from api.app import create_app  # noqa: PLC0415

    failures: list[str] = []

    def fatal(reason: str) -> None:  # a runtime task keeps failing (telemetry/supervise.py)
        failures.append(reason)
        server.should_exit = True  # a graceful stop: the pipeline drains, then exit 1

    from api.preflight import preflight  # noqa: PLC0415
    from telemetry.ingest.spool import check_unlocked  # noqa: PLC0415

    check_unlocked(Path(settings.spool.path))  # another process on this spool: exit 2, not a traceback
    loaded = preflight(settings)  # a bad asset file or DEM: a configuration error, exit 2
    app = create_app(settings, workers=workers, on_fatal=fatal, loaded=loaded)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.api.host, port=settings.api.port, timeout_graceful_shutdown=5)
    )
    server.run()
    if failures:
        log.error("stopped after a runtime failure: %s", failures[0])
        return 1
    return 0


def _replay(file: str, config: str | None) -> int:
    from pathlib import Path  # noqa: PLC0415

    from api.replay import ProgressBar, replay  # noqa: PLC0415

    path = Path(file)
    if not path.is_file():
        return _fail([("replay", f"{file}: no such file")])
    settings = load_settings(config)
    result = asyncio.run(replay(settings, path, ProgressBar()))
    rate = result.records / result.seconds if result.seconds else 0.0
    print(f"replayed {result.records} records from {file} in {result.seconds:.1f} s ({rate:.0f}/s)")
    return 0


def _mission(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from drones.formats import MissionFormatError, load, save  # noqa: PLC0415
    from drones.mission_service import MissionPlanner  # noqa: PLC0415

    try:
        if args.action == "convert":
            items, home = load(Path(args.input))
            save(Path(args.output), items, home)
            print(f"{args.input} -> {args.output}: {len(items)} items")
            return 0
        settings = load_settings(args.config)
        drones = settings.drones
        planner = MissionPlanner(settings.airspace, settings.assets.dir, drones.types[drones.default_type])
        request: dict[str, object] = {
            "type": args.type,
            "altitude_agl_m": args.altitude,
            "speed_ms": args.speed,
        }
        if args.type == "points":
            pts = [[float(v) for v in p.split(",")] for p in (args.points or "").split(";") if p]
            request |= {"points": pts, "loiter_s": args.loiter}
        else:
            doc = json.loads(Path(args.area).read_text(encoding="utf-8"))
            request |= {
                "area": doc.get("geometry", doc),
                "front_overlap": args.front,
                "side_overlap": args.side,
            }
        m = planner.plan(request)
        save(Path(args.out), m.items, m.home3, fence=m.fence)
    except (MissionFormatError, ValueError, KeyError, OSError) as exc:
        return _fail([("mission", str(exc))])
    c = m.checks
    print(f"{args.out}: {len(m.items)} items; max true height {c.max_true_height_m} m", end="")
    print(f" (limit {c.height_limit_m}); flight {c.estimated_flight_s:.0f} s,", end="")
    print(f" battery at RTL {c.battery_at_rtl_pct}%; terrain: {c.terrain}")
    if c.no_fly_violations:
        print(f"NO-FLY: {', '.join(c.no_fly_violations)}")
    if c.approval_required:
        print(f"approval required: {', '.join(c.approval_reasons)}")
    return 0 if c.flyable else 1


def _simulate_officers(args: argparse.Namespace) -> int:
    from simulators.officers import OfficerSquad  # noqa: PLC0415

    if not 1 <= args.count <= 500:
        return _fail([("simulate officers", "--count is 1 to 500")])
    squad = OfficerSquad(args.count, root=args.root, seed=args.seed)
    print(f"{args.count} simulated officers on {args.broker}", flush=True)
    try:
        n = squad.run(args.broker, args.duration)
    except KeyboardInterrupt:
        n = squad.published
    except ValueError as exc:
        return _fail([("simulate officers", str(exc))])
    print(f"published {n} messages")
    return 0


def _simulate_drone(args: argparse.Namespace) -> int:
    from simulators.drone import DroneSimulator  # noqa: PLC0415

    try:
        lat, lon = (float(v) for v in args.home.split(","))
        key = bytes.fromhex(args.signing_key) if args.signing_key else None
    except ValueError:
        return _fail([("simulate drone", "--home needs LAT,LON and --signing-key 64 hex digits")])
    if not 0 <= args.drop < 1:
        return _fail([("simulate drone", "--drop is a probability in [0, 1)")])
    sim = DroneSimulator(
        args.connect, sysid=args.sysid, home=(lat, lon), speed_ms=args.speed, drop=args.drop, seed=args.seed,
        signing_key=key, autopilot=args.autopilot,
    )  # fmt: skip
    print(f"simulated {args.autopilot} drone {args.sysid} on {args.connect}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim.run(args.duration)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "check-config":
            settings = load_settings(args.file)
            from api.preflight import preflight  # noqa: PLC0415

            problems = production_problems(settings)
            try:
                preflight(settings)  # the asset files and the DEM, as `serve` reads them
            except ConfigError as exc:
                problems += exc.problems
            if problems:
                return _fail(problems)
            print(f"{args.file}: ok")
            return 0
        if args.command == "serve":
            settings = load_settings(args.config)
            from api.worker_pool import worker_problems  # noqa: PLC0415

            problems = production_problems(settings) + worker_problems(settings, args.workers)
            if problems:
                return _fail(problems)
            return _serve(settings, args.workers)
        if args.command == "hash-token":
            return _hash_token(args.role, args.user, args.stdin)
        if args.command == "audit":
            return cli_audit.run(args)
        if args.command == "demo":
            from api.demo import run_demo  # noqa: PLC0415

            if not args.storm_every > 0:
                return _fail([("demo", "--storm-every is a number of seconds > 0")])
            return asyncio.run(run_demo(args.port, args.duration, args.data, args.seed, args.storm_every))
        if args.command == "mission":
            return _mission(args)
        if args.command == "replay":
            return _replay(args.file, args.config)
        if args.command == "simulate" and args.device == "drone":
            return _simulate_drone(args)
        if args.command == "simulate" and args.device == "officers":
            return _simulate_officers(args)
        if args.command == "simulate":
            from simulators.devices import Rates  # noqa: PLC0415
            from simulators.sensors import SensorFleet  # noqa: PLC0415

            try:
                fleet = SensorFleet(
                    args.broker,
                    root=args.root,
                    seed=args.seed,
                    rate_hz=args.rate,
                    scenario=args.scenario,
                    rates=Rates(gps_interval_s=args.gps_interval),
                )
            except ValueError as exc:
                return _fail([("simulate", str(exc))])
            try:
                n = fleet.run(args.duration)
            except KeyboardInterrupt:
                n = fleet.published
            print(f"published {n} messages")
            return 0
    except ConfigError as exc:
        return _fail(exc.problems)
    except (TelemetryError, OSError) as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
