"""Everything the service reads from files besides its configuration, loaded and checked before
it serves: the asset registry, the geometry of every asset file, the sanitation routes, stops and
depots, the airspace areas and the DEM. A bad file is a configuration error naming the file and
the reason (``serve`` and ``check-config`` exit 2), never a traceback inside the lifespan.

``serve`` hands what was loaded to the runtime (:func:`api.runtime.running`), so the DEM is read
once; ``check-config`` only reports the problems."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from drones.mission_service import MissionPlanner, load_zones
from drones.terrain import DemTerrain
from telemetry.alerts.book import AlertBook
from telemetry.assets import Registry, geometry_problems, load_registry
from telemetry.config import Settings
from telemetry.errors import ConfigError
from telemetry.sanitation.service import SanitationService

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Loaded:
    """What the runtime takes from :func:`preflight` (one run's: the planner keeps its missions)."""

    registry: Registry
    planner: MissionPlanner  # the areas and the DEM, opened


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)


def _attempt(where: str, what: str, load: Callable[[], T], problems: list[tuple[str, str]]) -> T | None:
    """``load()``, or None with the problem recorded as (``where``, ``what``: reason).

    Every exception counts: the loaders are third-party readers (rasterio, pyproj, json, numpy)
    of a file the operator wrote, and whatever they raise means the file cannot start the
    service; the reason goes to the operator, with the file."""
    try:
        return load()
    except ConfigError as exc:
        problems.extend(exc.problems)
    except Exception as exc:  # mapped to a configuration error with the file and the reason
        log.debug("%s: %s", where, what, exc_info=True)
        reason = _reason(exc)
        problems.append((where, reason if what in reason else f"{what}: {reason}"))
    return None


def preflight(settings: Settings, registry: Registry | None = None) -> Loaded:
    """Load and check everything the runtime reads from files; raise :class:`ConfigError` with
    every problem found (each with its file or key and the reason)."""
    s, problems = settings, list[tuple[str, str]]()
    if registry is None:
        strict = s.assets.strict
        registry = _attempt(
            "assets.dir", s.assets.dir, lambda: load_registry(s.assets.dir, strict=strict), problems
        )
    folder = Path((registry.source if registry else "") or s.assets.dir)
    problems += geometry_problems(folder)
    if not problems:  # the derivations' own readers, on files whose shape is known to be right

        def sanitation() -> SanitationService:  # the offset only places windows: 0 checks as well
            return SanitationService(s.sanitation, str(folder), AlertBook(), 0, timezone=s.site.timezone)

        _attempt(str(folder), "routes, stops or depots (sanitation)", sanitation, problems)
        areas = folder / "areas.geojson"
        _attempt(str(areas), "airspace areas", lambda: load_zones(areas, s.airspace), problems)
    dem = s.airspace.dem
    planner = None
    if not problems:
        battery = s.drones.types[s.drones.default_type]
        planner = _attempt(
            "airspace.dem",
            dem or "(flat ground)",
            lambda: MissionPlanner(s.airspace, str(folder), battery),
            problems,
        )
    elif dem:  # reported with the other problems; read again when they are fixed
        _attempt("airspace.dem", dem, lambda: DemTerrain(dem), problems)
    if problems or registry is None or planner is None:
        raise ConfigError(problems)
    return Loaded(registry, planner)
