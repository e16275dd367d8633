"""Public toilets, "one toilet one code" (DOMAIN.md, toilets): ``rules`` holds the pure checks
(footfall from counter totals, air limits, surges, cleaning due), ``engine`` each toilet's state
and alerts, ``service`` the derivation the runtime drives."""
