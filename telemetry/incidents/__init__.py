"""Incidents: from an alert or a complaint to an officer on scene (issue 19)."""
