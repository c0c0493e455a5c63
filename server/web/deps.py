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


def _dispatcher(request: Request) -> Dispatcher:
    return runtime_of(request).dispatcher


def _stats(request: Request) -> StatsStore:
    return runtime_of(request).stats


def _alerts(request: Request) -> AlertMonitor:
    return runtime_of(request).alerts


def _settings(request: Request) -> ServerSettings:
    return runtime_of(request).settings


def _clock(request: Request) -> Clock:
    return runtime_of(request).clock


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
StatsDep = Annotated[StatsStore, Depends(_stats)]
AlertsDep = Annotated[AlertMonitor, Depends(_alerts)]
SettingsDep = Annotated[ServerSettings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
