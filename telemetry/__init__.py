"""City telemetry's own packages start here.

The spine (records, schema, queries, ports, errors, config, instants, urls, health, metrics,
assets, geo, the derivation protocol and ``ingest/``) is what every part uses and imports
nothing of ours outside it. ``alerts/`` announces alerts; each derivation (``flood/``,
``toilets/``, ``sanitation/``) is a package with ``rules``, ``engine`` and ``service`` that
imports the spine and ``alerts`` only (ARCHITECTURE.md, dependency rule; pyproject's
import-linter contracts).
"""
