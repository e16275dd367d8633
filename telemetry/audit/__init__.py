"""The append-only, hash-chained audit log (CONTRACT §1, §4, §6; docs/audit.md): pure chain
rules in :mod:`.chain`, Ed25519 checkpoints in :mod:`.signing`, the file in :mod:`.log`."""
