"""FastAPI dependencies that hand routes the server's parts: `RuntimeDep`,
`DispatcherDep`, `StatsDep`, `AlertsDep`, `SettingsDep`, `ClockDep`.

The runtime is put on `app.state.runtime` by the app's lifespan (server/web/app.py);
routes never read a part by a string key. Imports server.runtime and web helpers only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.desk.dispatch import Dispatcher
from server.runtime import Clock, Runtime
from server.settings import ServerSettings
from server.stats.alerts import AlertMonitor
from server.stats.store import StatsStore


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _dispatcher(request: Request) -> Dispatcher:
    return runtime_of(request).dispatcher


async def _stats(request: Request) -> StatsStore:
    return runtime_of(request).stats


async def _alerts(request: Request) -> AlertMonitor:
    return runtime_of(request).alerts


async def _settings(request: Request) -> ServerSettings:
    return runtime_of(request).settings


async def _clock(request: Request) -> Clock:
    return runtime_of(request).clock


async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


# The dependencies are coroutines although they only read an attribute: FastAPI runs a
# plain function dependency on a worker thread, one thread hop (and interpreter-lock
# hand-over) per dependency per request, and under a burst those hops queued for the
# worker threads like real work (docs/desk.md, "A stalled event loop").
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
StatsDep = Annotated[StatsStore, Depends(_stats)]
AlertsDep = Annotated[AlertMonitor, Depends(_alerts)]
SettingsDep = Annotated[ServerSettings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
