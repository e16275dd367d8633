"""The service's clock in epoch ms, moved by the test (the ``clock`` fixture of conftest.py)."""

from __future__ import annotations


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms
