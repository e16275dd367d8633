"""Alerts of every kind and how they leave the service: the alert book (:mod:`.book`), MQTT and
webhook announcements (:mod:`.announce`, :mod:`.webhooks`). Derivations import this package;
it imports the spine only, never a derivation."""
