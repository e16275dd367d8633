"""The ``[supervision]`` section: how the runtime's tasks are restarted after a failure, and when
a task that keeps failing stops the process (:mod:`telemetry.supervise`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from telemetry.config_base import Section


class SupervisionConfig(Section):
    """Extension: a failed task waits ``backoff_initial_s``, doubled at each further failure up
    to ``backoff_max_s``, then runs again; more than ``max_restarts`` failures within
    ``window_s`` seconds stop the service with exit status 1."""

    backoff_initial_s: float = Field(0.5, gt=0, le=60)
    backoff_max_s: float = Field(30.0, gt=0, le=3600)
    max_restarts: int = Field(5, ge=0, le=1000)
    window_s: float = Field(300.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _cap_above_start(self) -> Self:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")
        return self

    def delay_s(self, failures: int) -> float:
        """The wait before the restart that follows the ``failures``-th recent failure (≥ 1)."""
        return min(self.backoff_initial_s * 2.0 ** min(failures - 1, 60), self.backoff_max_s)
