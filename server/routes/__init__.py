"""One APIRouter per module; `server.app` includes every module here with a `router`."""
