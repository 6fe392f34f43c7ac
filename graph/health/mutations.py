"""Root Mutation fields of machine health: telemetry ingest."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.health.inputs import ReportMachineTelemetryInput
from graph.health.types import ReportMachineTelemetryPayload
from resolvers.health.telemetry import report_machine_telemetry


@strawberry.type
class HealthMutations:
    @strawberry.mutation(
        description="Push a machine's telemetry (API key of its shop). Safe to resend: a "
        "repeated eventId counts as a duplicate."
    )
    async def report_machine_telemetry(
        self, info: Info, input: ReportMachineTelemetryInput
    ) -> ReportMachineTelemetryPayload:
        result = await report_machine_telemetry(
            principal=info.context.require_principal(),
            settings=info.context.settings,
            **vars(input),
        )
        return ReportMachineTelemetryPayload.of(result)
