"""The human-readable end-of-run report of `cashcc simulate`."""

from __future__ import annotations

from typing import Any


def format_summary(result: Any) -> str:
    """Transactions per machine, then twins, then (with device faults) alerts and webhook
    deliveries; the last line says whether the run verified."""
    v = result.verification
    rate = result.journaled / result.elapsed if result.elapsed else 0.0
    lines = [
        f"run {result.run_id}: {result.machines} machines, {result.journaled} transactions "
        f"journaled in {result.elapsed:.1f}s ({rate:.0f} tx/s)"
        + ("" if result.converged else "  -- DID NOT CONVERGE"),
        f"agent kills: {result.kills}; network faults: "
        + (", ".join(f"{k} {n}" for k, n in sorted(result.faults.items())) or "none"),
        f"{'machine':<38} {'journaled':>9} {'in cloud':>9} {'sum journaled':>15} "
        f"{'sum in cloud':>15}  check",
    ]
    for m in v.machines:
        check = "ok" if m.ok else "MISMATCH: " + "; ".join(m.problems())
        lines.append(
            f"{result.labels.get(m.machine_id, m.machine_id):<38} {m.journaled:>9} "
            f"{m.stored:>9} {m.journaled_sum:>15} {m.stored_sum:>15}  {check}"
        )
    if result.twins:
        lines.append(f"{'machine':<38} {'telemetry':>9} {'unsent':>9} {'dead':>6}  twin")
    for t in result.twins:
        check = "ok" if not t.problems else "MISMATCH: " + "; ".join(t.problems)
        lines.append(
            f"{result.labels.get(t.machine_id, t.machine_id):<38} {t.messages:>9} "
            f"{t.undelivered:>9} {t.dead:>6}  {check}"
        )
    alerts = result.alerts
    if alerts is not None:
        lines.append(f"{'machine':<38} incidents (rule x count)")
        for label, counts in alerts.incidents.items():
            listed = ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items())) or "none"
            problems = alerts.problems.get(label)
            lines.append(f"{label:<38} {listed}" + (f"  PROBLEM: {'; '.join(problems)}"
                                                    if problems else "  ok"))  # fmt: skip
        lines += [f"webhook: {p}" for p in alerts.problems.get("webhook", [])]
        lines.append(
            f"alerts: {alerts.deliveries} signed deliveries received, {alerts.held_back} "
            "incidents cleared within their hold (never notified)"
        )
    lines += [f"error: {e}" for e in result.errors]
    twins_ok = all(t.ok for t in result.twins)
    verdict = f"verification: {'OK' if result.ok else 'FAILED'} - cloud holds {v.stored} of "
    verdict += f"{v.journaled} journaled transactions"
    if v.ok:
        verdict += ", counts, sums and per-denomination inventory match"
    if result.twins and twins_ok:
        verdict += "; every twin shows what its agent reported"
    if alerts is not None and alerts.ok:
        verdict += "; each fault gave exactly its incidents and deliveries"
    lines.append(verdict)
    return "\n".join(lines)
