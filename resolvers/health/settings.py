"""Health thresholds: a shop's override, else its organization's, else the deployment's."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from models.org_store import get_organization
from models.organization import HealthSettings, Organization, Shop
from models.scope import Scope
from resolvers.errors import CommonErrorCode, UserError
from resolvers.health.connectivity import Thresholds

# (lowest, highest) per threshold: low enough for tests and demos, high enough to matter.
LIMITS: dict[str, tuple[int, int]] = {
    "heartbeat_interval_seconds": (1, 3600),
    "offline_grace_seconds": (2, 7 * 86_400),
    "stale_after_seconds": (1, 7 * 86_400),
}
INPUT_NAMES = {
    "heartbeat_interval_seconds": "heartbeatIntervalSeconds",
    "offline_grace_seconds": "offlineGraceSeconds",
    "stale_after_seconds": "staleAfterSeconds",
}


@dataclass(frozen=True)
class EffectiveHealthSettings:
    heartbeat_interval_seconds: int
    offline_grace_seconds: int
    stale_after_seconds: int

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.of(
            heartbeat_interval_seconds=self.heartbeat_interval_seconds,
            offline_grace_seconds=self.offline_grace_seconds,
        )


def deployment_defaults(settings: Settings) -> EffectiveHealthSettings:
    return EffectiveHealthSettings(
        heartbeat_interval_seconds=settings.heartbeat_interval_seconds,
        offline_grace_seconds=settings.offline_grace_seconds,
        stale_after_seconds=settings.stale_counts_after_seconds,
    )


def effective_settings(
    settings: Settings, org: Organization | None, shop: Shop | None
) -> EffectiveHealthSettings:
    """Each threshold from the most specific level that sets it."""
    values = vars(deployment_defaults(settings)).copy()
    for level in (org.health if org else None, shop.health if shop else None):
        if level is None:
            continue
        for name, value in level.model_dump().items():
            if value is not None:
                values[name] = value
    return EffectiveHealthSettings(**values)


def check_health_settings(field: str, health: HealthSettings) -> list[UserError]:
    """A problem per threshold outside its range (None values are inherited, always fine)."""
    problems = []
    for name, (low, high) in LIMITS.items():
        value = getattr(health, name)
        if value is not None and not low <= value <= high:
            problems.append(
                UserError(
                    f"{field}.{INPUT_NAMES[name]}",
                    CommonErrorCode.INVALID,
                    f"must be {low} to {high} seconds",
                )
            )
    return problems


async def organization_of(shop: Shop) -> Organization | None:
    """The shop's organization (its thresholds are the shop's defaults)."""
    return await get_organization(scope=Scope.organization(shop.org_id))
