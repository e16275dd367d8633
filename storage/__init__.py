"""Stores: where points and dead letters end. Imports ``telemetry`` only."""
