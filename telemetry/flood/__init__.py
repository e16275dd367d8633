"""Flood alerts from waterlogging gauges (DOMAIN.md, flood): ``rules`` grades one gauge's depths
(pure), ``engine`` keeps every gauge's state and its alert episodes, ``service`` is the
derivation the runtime drives."""
