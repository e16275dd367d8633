"""Sanitation-route compliance (DOMAIN.md, sweeping): ``corridors`` projects the routes and
matches fixes to them, ``rules`` judges a vehicle's day (pure), ``engine`` keeps the live
off-route / overspeed state of each vehicle, ``service`` is the derivation the runtime drives
and the daily report."""
