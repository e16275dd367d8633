"""MAVLink drone telemetry and inspection missions (built in the drone and mission issues)."""
