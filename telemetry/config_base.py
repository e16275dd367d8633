"""The base of every configuration section (kept apart so section modules share it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # allow_inf_nan: `inf` and `nan` are valid TOML floats but no timeout, threshold or limit
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
