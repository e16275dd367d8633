"""Sanitation-route compliance (DOMAIN.md, sweeping): ``corridors`` projects the routes and
matches fixes to them, ``windows`` places their working and banned windows in site time,
``depots`` reads the depot areas, ``coverage`` measures coverage along the track, ``rules``
judges a vehicle's day and a route over its vehicles (pure), ``engine`` keeps the live off-route /
overspeed state of each vehicle, ``service`` is the derivation the runtime drives and the daily
report."""
