"""The gunicorn worker class: uvicorn's (the maintained `uvicorn-worker` package)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from uvicorn_worker import UvicornWorker

READY_DIR_ENV = "CASHCC_READY_DIR"


class ApiWorker(UvicornWorker):
    """uvicorn with the options the API needs behind a proxy. Forwarded headers are trusted
    from `FORWARDED_ALLOW_IPS` (gunicorn's setting; default 127.0.0.1, where nginx runs).

    uvicorn calls `callback_notify` first right after start-up (the application is loaded,
    connected, and the socket accepts); that is when the worker reports itself serving to
    `cli.gunicorn_app.RollingArbiter`."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "proxy_headers": True,
        "server_header": False,
    }
    _reported_ready = False

    async def callback_notify(self) -> None:
        if not self._reported_ready:
            folder = os.environ.get(READY_DIR_ENV)
            if folder:
                (Path(folder) / str(os.getpid())).touch()
            self._reported_ready = True
        self.notify()
