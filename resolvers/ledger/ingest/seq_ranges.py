"""Sorted, merged, inclusive ranges of sequence numbers: `[[1, 40], [42, 90]]`.

A machine keeps at most `max_ranges` ranges (setting MAX_SEQ_RANGES; one open gap sits between
two). Past that, the oldest ranges are summarised: dropped, and the *floor* moves up to the
oldest range kept. Below the floor the ranges no longer say which seqs were seen; ingest then
asks the stored transactions instead (see `resolvers.ledger.ingest.service`), so the state stays
small and ingest cost flat however many gaps a local system (or a stolen key) leaves open.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable


def contains(ranges: list[list[int]], seq: int) -> bool:
    i = bisect_right(ranges, [seq, float("inf")]) - 1
    return i >= 0 and ranges[i][0] <= seq <= ranges[i][1]


def merged(ranges: list[list[int]], seqs: Iterable[int]) -> list[list[int]]:
    """`ranges` with `seqs` added, merged and sorted (inputs are not modified)."""
    items = sorted([list(r) for r in ranges] + [[s, s] for s in seqs])
    out: list[list[int]] = []
    for lo, hi in items:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def bounded(
    ranges: list[list[int]], *, floor: int, max_ranges: int
) -> tuple[list[list[int]], int, int]:
    """`ranges` cut to the newest `max_ranges`: (ranges kept, new floor, ranges dropped)."""
    if len(ranges) <= max_ranges:
        return ranges, floor, 0
    dropped = len(ranges) - max_ranges
    kept = ranges[dropped:]
    return kept, max(floor, kept[0][0]), dropped


def missing(
    ranges: list[list[int]], *, first_seq: int, limit: int
) -> tuple[list[tuple[int, int]], bool]:
    """Gaps from `first_seq` up to the highest seen seq, at most `limit`, oldest first.

    Returns the gaps and whether more exist than were returned.
    """
    gaps: list[tuple[int, int]] = []
    expected = first_seq
    for lo, hi in ranges:
        if hi < expected:
            continue
        if lo > expected:
            if len(gaps) == limit:
                return gaps, True
            gaps.append((expected, lo - 1))
        expected = max(expected, hi + 1)
    return gaps, False
