"""The core: records, schema, configuration, errors, ports, pipeline and metrics.

Imports nothing of ours (ARCHITECTURE.md, dependency rule).
"""
