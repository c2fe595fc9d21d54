"""Build outputs from env-style configuration and send alerts through them in-process."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.app import build_outputs
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.outputs import Output


def outputs_from_env(env: dict[str, str]) -> dict[str, Output]:
    """The outputs a sidekick with this environment would run (prometheus disabled)."""
    config = load_config(None, {"PROMETHEUS_DISABLED": "true", **env})
    return {o.kind: o for o in build_outputs(config, CollectorRegistry())}


def send(output: Output, *alerts: dict[str, Any]) -> None:
    """Deliver alerts through `output` and close it."""

    async def run() -> None:
        try:
            await output.start()
            for data in alerts:
                await output.send(Alert.from_dict(data))
        finally:
            await output.close()

    asyncio.run(run())
