"""Configuration of the drones' world: airspace (height limit, DEM, airports) and the vehicles'
types with their battery model (endurance, reserve, climb rate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from telemetry.config_base import Section


class AirportConfig(Section):
    icao: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    runway_bearing_deg: float = Field(ge=0, lt=360)
    runway_length_m: float = Field(gt=0)
    half_width_m: float = Field(10_000, gt=0)
    end_extension_m: float = Field(20_000, ge=0)


class AirspaceConfig(Section):
    max_true_height_m: float = Field(120, gt=0)
    dem: str = ""
    altitude_mode: Literal["relative", "terrain"] = "relative"  # extension: how waypoints hold AGL
    terrain_tolerance_m: float = Field(5.0, gt=0)  # extension: add waypoints where the ground departs more
    airports: list[AirportConfig] = Field(
        default_factory=lambda: [
            AirportConfig(
                icao="ZSNB", lat=29.8267, lon=121.4619, runway_bearing_deg=128, runway_length_m=3200
            )
        ]
    )


class DroneTypeConfig(Section):
    """A drone type's battery model: the plan's flight-time estimate is checked against it."""

    endurance_s: float = Field(22 * 60, gt=0)  # flight time on a full battery
    reserve_pct: float = Field(25.0, ge=0, lt=100)  # left at landing (DOMAIN.md: 25-30 % at RTL)
    climb_ms: float = Field(2.5, gt=0)


class DronesConfig(Section):
    types: dict[str, DroneTypeConfig] = Field(default_factory=lambda: {"quad": DroneTypeConfig()})
    default_type: str = "quad"
    vehicles: dict[str, str] = Field(default_factory=dict)  # MAVLink system id → type

    @model_validator(mode="after")
    def _known_types(self) -> DronesConfig:
        if self.default_type not in self.types:
            raise ValueError(f"default_type {self.default_type!r} is not one of types {sorted(self.types)}")
        for sysid, kind in self.vehicles.items():
            if not sysid.isdigit() or not 1 <= int(sysid) <= 255:
                raise ValueError(f"vehicles: {sysid!r} is not a MAVLink system id (1-255)")
            if kind not in self.types:
                raise ValueError(f"vehicles.{sysid}: type {kind!r} is not one of types {sorted(self.types)}")
        return self

    def type_of(self, sysid: int | None) -> DroneTypeConfig:
        """The battery model of a vehicle (the default type's when it is not listed)."""
        return self.types[self.vehicles.get(str(sysid), self.default_type)]
