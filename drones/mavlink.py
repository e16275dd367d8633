"""pymavlink, loaded for MAVLink 2. The environment switch must be set before pymavlink picks
its wire protocol, so every use goes through :func:`mavutil`."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


@cache
def mavutil() -> Any:
    os.environ.setdefault("MAVLINK20", "1")
    from pymavlink import mavutil as module  # noqa: PLC0415

    return module
