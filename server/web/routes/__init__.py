"""One APIRouter per module; `server.web.app` includes every module here with a `router`."""
