"""The ``telemetry`` command (CONTRACT §1). Exit status: 0 success, 2 usage or configuration
error (reason on stderr), 1 runtime failure."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from telemetry.assets import load_registry
from telemetry.config import Settings, load_settings, production_problems
from telemetry.errors import ConfigError, TelemetryError

log = logging.getLogger("telemetry")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="telemetry", description="City telemetry service")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service: collectors, pipeline, API")
    serve.add_argument("--config", help="TOML configuration file (default: embedded defaults)")

    demo = sub.add_parser("demo", help="everything on one machine, no server needed")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--port", type=int, default=8000, help="API port on 127.0.0.1 (default 8000)")
    demo.add_argument("--data", default="data/demo", help="embedded store folder (default data/demo)")
    demo.add_argument("--seed", type=int, default=1)

    sim = sub.add_parser("simulate", help="simulated devices")
    simsub = sim.add_subparsers(dest="device", required=True)
    sensors = simsub.add_parser("sensors", help="gauges, toilets and vehicles over MQTT")
    sensors.add_argument("--broker", required=True, help="mqtt://HOST[:PORT]")
    sensors.add_argument("--root", default="city/haishu")
    sensors.add_argument("--scenario", default="normal")
    sensors.add_argument("--seed", type=int, default=1)
    sensors.add_argument("--rate", type=float, default=1.0, help="ticks per second")
    sensors.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file")
    return p


def _fail(problems: list[tuple[str, str]]) -> int:
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 2


def _serve(settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only the serving commands need it

    from api.app import create_app  # noqa: PLC0415

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port))
    server.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "check-config":
            settings = load_settings(args.file)
            problems = production_problems(settings)
            load_registry(settings.assets.dir, strict=settings.assets.strict)
            if problems:
                return _fail(problems)
            print(f"{args.file}: ok")
            return 0
        if args.command == "serve":
            settings = load_settings(args.config)
            problems = production_problems(settings)
            if problems:
                return _fail(problems)
            return _serve(settings)
        if args.command == "demo":
            from api.demo import run_demo  # noqa: PLC0415

            return asyncio.run(run_demo(args.port, args.duration, args.data, args.seed))
        if args.command == "simulate":
            from simulators.sensors import SensorFleet  # noqa: PLC0415

            try:
                fleet = SensorFleet(
                    args.broker,
                    root=args.root,
                    seed=args.seed,
                    rate_hz=args.rate,
                    scenario=args.scenario,
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
