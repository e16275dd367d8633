"""Problems of the ``TELEMETRY_<SECTION>__<KEY>`` environment that pydantic-settings would miss
or report without a key path: an unknown section, a name without a key, and a list or table
whose value is not JSON (pydantic-settings raises an error naming only the section)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, get_origin

from pydantic import BaseModel


def env_problems(
    environ: Mapping[str, str], prefix: str, sections: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(key path or variable name, reason) for each bad variable; ``sections`` maps a section's
    name to its model class."""
    problems = []
    for name, value in environ.items():
        if not name.startswith(prefix):
            continue
        section, _, key = name[len(prefix) :].lower().partition("__")
        if section not in sections:
            problems.append((name, f"unknown section {section!r}"))
        elif not key:
            problems.append((name, f"expected {prefix}<SECTION>__<KEY>"))
        elif "__" not in key and _is_json(sections[section], key):  # deeper names address parts
            try:
                json.loads(value)
            except ValueError as exc:
                problems.append((f"{section}.{key}", f"{name} is not valid JSON: {exc}"))
    return problems


def _is_json(model: Any, key: str) -> bool:
    field = model.model_fields.get(key) if isinstance(model, type) and issubclass(model, BaseModel) else None
    if field is None:
        return False
    kind = get_origin(field.annotation) or field.annotation
    return kind in (list, dict) or (isinstance(kind, type) and issubclass(kind, BaseModel))
