"""Coverage measured along the track (DOMAIN.md, sweeping), vectorised with numpy.

Which fixes are on the route: the track is cut where it goes clearly away from the route (two or
more fixes in a row further than ``bridge`` × the corridor's half-width; a lone such fix between
others is GPS noise) and where it has a gap over ``gap_s``. A piece of track that enters the
corridor (has a fix within the half-width) is on the route with every fix of it that is not
clearly away: position noise moving a fix just outside the corridor neither drops it nor cuts the
track.

The track between two consecutive on-route fixes is taken as a straight line, a *stretch*, when
they are at most ``gap_s`` apart and the speed it implies is plausible (``max_implied_kmh``, with
an allowance of ``jitter_m`` for the noise of two positions). Both fixes are projected onto the
route (``Route.locate``) and the interval of route between them is covered, split over the
segments it spans. So the same drive reported every 1 s or every 30 s covers the same length.

A *visit* of a segment is a run of connected stretches that all touch it. Connected stretches
share their fixes, so what a visit covers is one interval: a vehicle that enters a segment at one
end and leaves at the other has covered all of it, whatever its reporting interval, and noise
moving fixes back and forth across a segment boundary never splits that. Each visit is judged on
the fixes that bracket its stretches: a stretch is *clean* when both its fixes are under the
speed limit, working (when reported) and in service (in a working window, in no banned window);
the visit's valid coverage is the union of its clean stretches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from telemetry.sanitation.corridors import Array

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Track:
    """A vehicle's fixes of a day matched to one route, sorted by time (after GPS hygiene)."""

    t_s: Array
    x: Array
    y: Array
    along_m: Array  # position along the route (m)
    on_route: Bools  # see :func:`on_route`
    piece: Ints  # the piece of track each fix belongs to (cut where it goes away or has a gap)
    clean: Bools  # under the limit, working (when reported) and in service
    under: Bools  # under the limit
    known: Bools  # working reported
    on: Bools  # working reported and on


@dataclass(frozen=True)
class Visits:
    """One entry per visit of a segment (see the module's text)."""

    segment: Ints
    covered_m: Array  # length of the segment the visit covers
    valid_m: Array  # length covered by its clean stretches
    fixes: Ints  # fixes bracketing its stretches
    under: Ints  # of which under the limit
    known: Ints  # of which reporting the brush
    on: Ints  # of which with the brush on

    @classmethod
    def none(cls) -> Visits:
        z, f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return cls(z, f, f, z, z, z, z)


@dataclass(frozen=True)
class Along:
    """How the track is judged: the DOMAIN.md defaults are in ``SanitationConfig``."""

    gap_s: float = 300.0
    max_implied_kmh: float = 120.0
    jitter_m: float = 20.0


def on_route(inside: Bools, far: Bools, gap: Bools) -> tuple[Bools, Ints]:
    """The fixes on the route (see the module's text) and the piece of track of each fix:
    ``inside`` the corridor, ``far`` beyond ``bridge`` × its half-width, ``gap`` the fix follows a
    gap over ``gap_s``."""
    if len(inside) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    before = np.concatenate([[False], far[:-1]])
    after = np.concatenate([far[1:], [False]])
    cut = (far & (before | after)) | gap
    piece = np.cumsum(cut).astype(np.int64)
    enters = np.bincount(piece, weights=inside.astype(np.float64)) > 0
    return ~far & enters[piece], piece


def stretches(track: Track, how: Along) -> tuple[Ints, Ints, Bools]:
    """Consecutive on-route fixes ``p[k]``, ``q[k]`` and whether the track between them is a
    stretch (``ok[k]``). A failed pair breaks the chain of stretches."""
    idx = np.flatnonzero(track.on_route)
    p, q = idx[:-1], idx[1:]
    dt = track.t_s[q] - track.t_s[p]
    step = np.maximum(
        np.hypot(track.x[q] - track.x[p], track.y[q] - track.y[p]),
        np.abs(track.along_m[q] - track.along_m[p]),
    )
    ok = (
        (track.piece[p] == track.piece[q])
        & (dt > 0)
        & (dt <= how.gap_s)
        & (step <= how.max_implied_kmh / 3.6 * dt + how.jitter_m)
    )
    return p.astype(np.int64), q.astype(np.int64), ok


def visits(track: Track, segment_m: float, segments: int, how: Along) -> Visits:
    p, q, ok = stretches(track, how)
    s = track.along_m
    lo, hi = np.minimum(s[p], s[q]), np.maximum(s[p], s[q])
    ok &= (hi >= 0.0) & (lo <= segment_m * segments)  # wholly beyond an end: nothing of the route
    pairs = np.flatnonzero(ok)
    if len(pairs) == 0:
        return Visits.none()
    lo, hi = lo[pairs], hi[pairs]
    first = np.clip(np.floor(lo / segment_m), 0, segments - 1).astype(np.int64)
    last = np.clip(np.ceil(hi / segment_m) - 1, first, segments - 1).astype(np.int64)
    # one piece per (stretch, segment it spans), in stretch order
    count = last - first + 1
    pair = np.repeat(pairs, count)
    seg = np.repeat(first, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    base = seg * segment_m
    plo = np.clip(np.repeat(lo, count) - base, 0.0, segment_m)  # within the segment
    phi = np.clip(np.repeat(hi, count) - base, 0.0, segment_m)
    # visits: runs of consecutive stretches on one segment
    order = np.argsort(seg, kind="stable")
    seg, pair, plo, phi = seg[order], pair[order], plo[order], phi[order]
    new = np.ones(len(seg), dtype=bool)
    new[1:] = (seg[1:] != seg[:-1]) | (pair[1:] != pair[:-1] + 1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(seg)) - 1
    covered = np.maximum.reduceat(phi, starts) - np.minimum.reduceat(plo, starts)
    visit = (np.cumsum(new) - 1).astype(np.int64)
    pp, qq = p[pair], q[pair]
    clean = track.clean[pp] & track.clean[qq]
    valid = _union_length(visit[clean], plo[clean], phi[clean], segment_m, len(starts))

    def bracketing(flag: Bools) -> Ints:
        counts: Ints = np.add.reduceat(flag[pp].astype(np.int64), starts) + flag[qq[ends]].astype(np.int64)
        return counts

    return Visits(
        seg[starts],
        covered,
        valid,
        (ends - starts + 2).astype(np.int64),
        bracketing(track.under),
        bracketing(track.known),
        bracketing(track.on),
    )


def _union_length(group: Ints, lo: Array, hi: Array, width: float, groups: int) -> Array:
    """Length of the union of the intervals [lo, hi] of each group (all within [0, width])."""
    if len(group) == 0:
        return np.zeros(groups)
    offset = group * (width + 1.0)
    key_lo, key_hi = offset + lo, offset + hi
    order = np.argsort(key_lo, kind="stable")
    key_lo, key_hi, group = key_lo[order], key_hi[order], group[order]
    reach = np.maximum.accumulate(key_hi)
    before = np.concatenate([[-np.inf], reach[:-1]])
    added = np.maximum(0.0, key_hi - np.maximum(key_lo, before))
    union: Array = np.bincount(group, weights=added, minlength=groups).astype(np.float64)
    return union


def track_speed_kmh(t_s: Array, x: Array, y: Array, baseline_s: float) -> Array:
    """Speed of each fix from positions, for vehicles that do not report one: the displacement
    between the fixes about ``baseline_s`` apart around it (at least its neighbours), so that
    position noise at short intervals does not read as speed."""
    n = len(t_s)
    if n < 2:
        return np.zeros(n)
    i = np.arange(n)
    before = np.minimum(np.searchsorted(t_s, t_s - baseline_s / 2, side="right") - 1, i - 1)
    after = np.maximum(np.searchsorted(t_s, t_s + baseline_s / 2, side="left"), i + 1)
    before, after = np.clip(before, 0, n - 1), np.clip(after, 0, n - 1)
    dt = t_s[after] - t_s[before]
    dist = np.hypot(x[after] - x[before], y[after] - y[before])
    return np.where(dt > 0, dist / np.maximum(dt, 1e-9) * 3.6, 0.0)
