"""API errors leave as JSON `{"code": ..., "detail": ...}` with a stable `code`."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
