"""Zalo Notification Service (ZNS): a message from an approved template (template id +
parameters; ZNS renders the text, at most 400 characters, no links in the body) to the
Zalo account of a phone number, as the ZNS API documents it:

    POST {send_url}   header access_token: <OA access token>
         {"phone": "84…", "template_id": "…", "template_data": {…}, "tracking_id": "<our key>"}
    →    {"error": 0, "message": "Success", "data": {"msg_id": …, "quota": {…}}}

The OA access token lives about 25 hours; it is refreshed with the app's secret key and a
refresh token, which is single-use: each refresh returns the next one, kept (encrypted)
in the notifier's database. Error codes, from the ZNS error-code table (checked when the
office signs its ZNS contract; a code not listed here is retried):

    -124 access token invalid → refresh once, send again
    -108 phone number invalid, -118 no Zalo account, -119 account cannot receive ZNS
         → rejected; the number is deleted
    -109 template id invalid, -112 template data invalid, -117 template not approved
         or not allowed for this OA → rejected (an office's configuration to fix)
    -115 out of quota → retried later (the daily quota renews)
    -100 unknown error, HTTP 5xx, network → retried with back-off

The phone number and the tokens are never logged. Imports server.notify only.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

import requests

from server.notify.channels import Message, Rejected, Retry
from server.notify.outbox import Outbox
from server.settings import ZaloSection

log = logging.getLogger(__name__)
TOKEN_INVALID = -124
INVALID_PHONE = {-108: "phone number invalid", -118: "no Zalo account for this number", -119: "account cannot receive ZNS"}
TEMPLATE_REJECTED = {-109: "template id invalid", -112: "template data invalid", -117: "template not approved for this OA"}
QUOTA = {-115: "out of quota"}
QUOTA_RETRY_S = 3600.0
PARAMS = ("number", "counter", "ahead", "minutes", "site", "service", "time", "date")


class ZaloChannel:
    name: ClassVar[str] = "zalo"
    needs_contact: ClassVar[bool] = True

    def __init__(self, settings: ZaloSection, outbox: Outbox):
        self.settings = settings
        self.outbox = outbox
        self.session = requests.Session()
        self.lock = threading.Lock()
        self.access_token: str | None = outbox.secret("zalo.access_token")
        expires = outbox.secret("zalo.expires_at")
        self.expires_at = float(expires) if expires else 0.0

    # -- the access token -------------------------------------------------------------------
    def _token(self, force: bool = False) -> str:
        with self.lock:
            if self.access_token and not force and time.time() < self.expires_at - 300:
                return self.access_token
            refresh = self.outbox.secret("zalo.refresh_token") or self.settings.refresh_token.get_secret_value()
            if not refresh:
                raise Retry("zalo: no refresh token configured", QUOTA_RETRY_S)
            try:
                response = self.session.post(
                    self.settings.token_url, timeout=self.settings.timeout_s,
                    headers={"secret_key": self.settings.secret_key.get_secret_value()},
                    data={"refresh_token": refresh, "app_id": self.settings.app_id, "grant_type": "refresh_token"})
                body = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise Retry(f"zalo token refresh failed ({type(exc).__name__})") from None
            if response.status_code != 200 or "access_token" not in body:
                log.error("zalo: the access token could not be refreshed (error %s); check app id, secret and refresh token",
                          body.get("error"))
                raise Retry(f"zalo token refresh refused ({body.get('error')})", 600.0)
            self.access_token = str(body["access_token"])
            self.expires_at = time.time() + float(body.get("expires_in", 3600))
            self.outbox.set_secret("zalo.refresh_token", str(body["refresh_token"]))
            self.outbox.set_secret("zalo.access_token", self.access_token)
            self.outbox.set_secret("zalo.expires_at", str(self.expires_at))
            return self.access_token

    # -- sending --------------------------------------------------------------------------
    def send(self, message: Message) -> None:
        if message.address is None:
            raise Rejected("no phone number")
        template = self.settings.templates.get(message.kind)
        if not template:
            raise Rejected(f"no ZNS template configured for {message.kind}")
        data = {k: str(v)[:100] for k, v in message.params.items() if k in PARAMS}
        body = {"phone": message.address, "template_id": template, "template_data": data, "tracking_id": message.key}
        answer = self._post(body, self._token())
        if answer.get("error") == TOKEN_INVALID:
            answer = self._post(body, self._token(force=True))
        self._verdict(answer)

    def _post(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        try:
            response = self.session.post(self.settings.send_url, json=body, timeout=self.settings.timeout_s,
                                         headers={"access_token": token})
        except requests.RequestException as exc:
            raise Retry(f"zalo unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise Retry(f"zalo answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise Retry(f"zalo answered HTTP {response.status_code} without JSON") from None
        return answer if isinstance(answer, dict) else {}

    @staticmethod
    def _verdict(answer: dict[str, Any]) -> None:
        code = answer.get("error")
        if code == 0:
            return
        if code in INVALID_PHONE:
            raise Rejected(f"zalo {code}: {INVALID_PHONE[code]}", forget_contact=True)
        if code in TEMPLATE_REJECTED:
            raise Rejected(f"zalo {code}: {TEMPLATE_REJECTED[code]}")
        if code in QUOTA:
            raise Retry(f"zalo {code}: out of quota", QUOTA_RETRY_S)
        raise Retry(f"zalo {code}: {str(answer.get('message', ''))[:80]}")

    def close(self) -> None:
        self.session.close()
