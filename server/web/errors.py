"""API errors leave as JSON `{"code": ..., "detail": ...}` with a stable `code`.

`ApiError` is raised by the web layer itself (auth, validation of paths). The rules below
it raise `protocol.errors.Refused` (the desk's `DeskRefused`) with a code only; this
module's one table gives each code its HTTP status. Imports only protocol.
"""

from protocol.errors import Refused


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


# HTTP status of every refusal code the domain rules raise; a code missing here is a 409.
STATUS: dict[str, int] = {
    # the request itself is wrong
    "invalid_outcome": 422, "invalid_dossier_code": 422, "unknown_service": 422,
    "invalid_event": 422, "invalid_command": 422,
    # no such thing
    "unknown_site": 404, "unknown_counter": 404,
    # the state of the counter or ticket does not allow it now
    "counter_paused": 409, "no_ticket_waiting": 409, "ticket_not_waiting": 409, "same_service": 409,
    "not_dispatcher": 409, "counter_busy": 409, "no_current_ticket": 409, "wrong_ticket_state": 409,
    # the server cannot take it right now
    "server_stopping": 503,
    # bookings and online numbers (server/booking, docs/booking.md)
    "invalid_day": 422, "unknown_slot": 422, "unknown_code": 404, "booking_off": 404, "online_numbers_off": 404,
    "slot_full": 409, "slot_closed": 409, "past_cutoff": 409, "closed_now": 409, "code_cancelled": 409,
    "code_used": 409, "code_expired": 409, "other_site": 409, "other_day": 409, "too_early": 409, "too_late": 409,
    "turn_passed": 409, "not_appointment": 409,
    # the second visit (server/booking/returns.py, docs/second-visit.md)
    "return_off": 404, "unknown_ticket": 404, "not_guided": 409, "other_counter": 409, "return_needs_guided": 422,
    "no_dossier_code": 409,
    # the missed-call rule (docs/desk.md): the citizen still has time to come
    "call_too_recent": 409,
}


def as_api_error(refused: Refused) -> ApiError:
    return ApiError(STATUS.get(refused.code, 409), refused.code, refused.detail)
