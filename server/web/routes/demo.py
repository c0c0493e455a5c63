"""`GET /demo/board.png` and `/demo/board`: the display board's latest snapshot, for a
board running headless (the demo) or monitored remotely. Only when configured."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from server.web.deps import runtime_of
from server.web.errors import ApiError

router = APIRouter(tags=["board snapshot"])


def _snapshot(request: Request):
    path = runtime_of(request).settings.server.board_snapshot
    if path is None:
        raise ApiError(404, "not_configured", "no board snapshot is configured (server.board_snapshot)")
    if not path.is_file():
        raise ApiError(404, "no_snapshot_yet", "the board has not written a snapshot yet")
    return path


@router.get("/demo/board.png", summary="The display board's latest snapshot (PNG)")
def board_png(request: Request) -> FileResponse:
    return FileResponse(_snapshot(request), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/demo/board", summary="A page that shows the board snapshot, refreshed every 2 s")
def board_page(request: Request) -> HTMLResponse:
    _snapshot(request)
    return HTMLResponse(
        "<!doctype html><html lang='vi'><meta charset='utf-8'><title>Bảng gọi số</title>"
        "<body style='margin:0;background:#000'><img id='b' src='/demo/board.png' style='width:100%'>"
        "<script>setInterval(()=>{document.getElementById('b').src='/demo/board.png?'+Date.now()},2000)</script>"
    )
