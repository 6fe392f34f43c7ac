"""The rule table: defaults per rule, and an organization's settings over them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from models.alerts import AlertRule, AlertRuleOverride, Severity
from resolvers.errors import CommonErrorCode, UserError

MINUTE = 60
R, S = AlertRule, Severity


@dataclass(frozen=True)
class RuleSettings:
    """`hold`: how long the condition must hold before the incident fires; `keep_firing`:
    how long it must be false before the incident resolves; `threshold`: the rule's own
    number (seconds or pieces; None where the rule has none)."""

    rule: AlertRule
    enabled: bool
    severity: Severity
    hold_seconds: int
    keep_firing_seconds: int
    threshold: int | None = None


def _rule(rule: AlertRule, severity: Severity, hold: int, keep: int = 0, threshold=None):
    return RuleSettings(rule, True, severity, hold, keep, threshold)


# OFFLINE's hold is the offline grace itself: the machine is OFFLINE only once the grace has
# passed (resolvers/health/connectivity.py), so the rule adds none.
DEFAULTS: dict[AlertRule, RuleSettings] = {
    r.rule: r
    for r in (
        _rule(R.OFFLINE, S.CRITICAL, 0),
        _rule(R.DEVICE_ERROR, S.CRITICAL, 120, 10 * MINUTE),
        _rule(R.NOTE_JAM, S.WARNING, 60, 10 * MINUTE),
        _rule(R.COMMUNICATION_ERROR, S.WARNING, 120),
        _rule(R.COLLECTION_NEAR_FULL, S.WARNING, 15 * MINUTE),
        _rule(R.COLLECTION_FULL, S.CRITICAL, 0),
        _rule(R.DENOMINATION_NEAR_EMPTY, S.WARNING, 15 * MINUTE),
        _rule(R.DENOMINATION_EMPTY, S.CRITICAL, 0),
        _rule(R.UNIT_MISSING, S.CRITICAL, 0),
        _rule(R.DOOR_OPEN_TOO_LONG, S.WARNING, 0, threshold=10 * MINUTE),
        _rule(R.DOOR_OUTSIDE_HOURS, S.CRITICAL, 0),
        _rule(R.EMPTY_SOON, S.WARNING, 0, threshold=24 * 60 * MINUTE),
        _rule(R.SEQ_GAP_OPEN, S.WARNING, 0, threshold=15 * MINUTE),
        _rule(R.NEGATIVE_INVENTORY, S.WARNING, 0, threshold=60 * MINUTE),
        _rule(R.SUSPECT_NOTES, S.CRITICAL, 0, threshold=60 * MINUTE),
        _rule(R.CLOCK_SKEW, S.WARNING, 10 * MINUTE, threshold=120),
        _rule(R.AGENT_BACKLOG, S.WARNING, 0, threshold=15 * MINUTE),
        _rule(R.WEBHOOK_DISABLED, S.CRITICAL, 0),
    )
}
THRESHOLD_MEANING: dict[AlertRule, str] = {
    R.DOOR_OPEN_TOO_LONG: "seconds a door may stay open",
    R.EMPTY_SOON: "seconds ahead the forecast looks",
    R.SEQ_GAP_OPEN: "seconds a seq gap may stay open",
    R.SUSPECT_NOTES: "seconds an incident stays open after the last count",
    R.NEGATIVE_INVENTORY: "seconds an incident stays open after the last flagged record",
    R.CLOCK_SKEW: "seconds of clock difference tolerated",
    R.AGENT_BACKLOG: "age in seconds of the oldest unsent record",
}
MAX_SECONDS = 7 * 86_400
# Flapping (docs/alerts.md): this many FIRING/RESOLVED transitions of one key within the
# window mark it flapping; it then stays open until the condition is stable for STABLE.
FLAP_TRANSITIONS = 4
FLAP_WINDOW_SECONDS = 60 * MINUTE
FLAP_STABLE_SECONDS = 30 * MINUTE


def effective_rules(overrides: list[AlertRuleOverride]) -> dict[AlertRule, RuleSettings]:
    """Every rule's settings for an organization: its overrides over the defaults."""
    rules = dict(DEFAULTS)
    for o in overrides:
        base = rules[o.rule]
        rules[o.rule] = replace(
            base,
            enabled=base.enabled if o.enabled is None else o.enabled,
            severity=o.severity or base.severity,
            hold_seconds=base.hold_seconds if o.hold_seconds is None else o.hold_seconds,
            keep_firing_seconds=base.keep_firing_seconds
            if o.keep_firing_seconds is None
            else o.keep_firing_seconds,
            threshold=base.threshold if o.threshold is None else o.threshold,
        )
    return rules


def check_rule_update(
    rule: AlertRule, *, hold: int | None, keep: int | None, threshold: int | None
) -> list[UserError]:
    problems = []
    for name, value in (
        ("holdSeconds", hold),
        ("keepFiringSeconds", keep),
        ("threshold", threshold),
    ):
        if value is not None and not 0 <= value <= MAX_SECONDS:
            problems.append(
                UserError(f"input.{name}", CommonErrorCode.INVALID, f"must be 0 to {MAX_SECONDS}")
            )
    if threshold is not None and rule not in THRESHOLD_MEANING:
        problems.append(
            UserError("input.threshold", CommonErrorCode.INVALID, f"{rule.value} has no threshold")
        )
    return problems
