"""A checkpoint worker for tests, run as its own process: `python -m tests.checkpoint_worker
ORG_ID BARRIER_DIR NAME` signs the checkpoints its organization's logs need, says so in
BARRIER_DIR/ready-NAME, stores them once BARRIER_DIR/go appears, and prints what it did as
JSON. Two of them released at once race for every checkpoint."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bson import ObjectId

from config import Settings
from models.organization import utcnow
from resolvers.audit.checkpoints import plan_checkpoints, store_checkpoints
from resolvers.system import close_database, open_database

RELEASE_TIMEOUT = 60.0


async def main(org_id: str, barrier: Path, name: str) -> None:
    settings = Settings()
    await open_database(settings)
    try:
        planned, _ = await plan_checkpoints(settings=settings, org_id=ObjectId(org_id))
        (barrier / f"ready-{name}").touch()
        deadline = time.monotonic() + RELEASE_TIMEOUT
        while not (barrier / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("never released")
            await asyncio.sleep(0.002)
        now = utcnow()
        run = await store_checkpoints(planned, as_of=now, now=now)
    finally:
        await close_database()
    print(json.dumps({"planned": len(planned), "stored": len(run.stored), "lost": run.lost}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
