"""SMS brandname through an HTTP gateway: one configurable POST with a JSON body whose
values may name {phone} {text} {brandname} {request_id} {api_key} {secret_key}, and an
answer whose `code_field` says the result. The defaults follow the shape of common
Vietnamese gateways (customer-care SMS, a RequestId the gateway refuses twice):

    100 accepted · 124 duplicate RequestId (already accepted: counted as sent, so a resend
    after a restart never makes a second SMS) · 103 out of balance (retried later) ·
    108/99 invalid or blocked number (rejected; the number is deleted) · 146/104 template
    or brandname not registered (rejected) · anything else retried with back-off.

Every list of codes is a setting ([notify.sms]). The text is sent without accents by
default (one 160-character GSM message). The number and the keys are never logged.
Imports server.notify only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from server.notify.channels import Message, Rejected, Retry
from server.notify.texts import unaccented
from server.settings import SmsSection

QUOTA_RETRY_S = 1800.0


class SmsChannel:
    name: ClassVar[str] = "sms"
    needs_contact: ClassVar[bool] = True

    def __init__(self, settings: SmsSection):
        self.settings = settings
        self.session = requests.Session()

    def body(self, message: Message) -> dict[str, Any]:
        text = unaccented(message.text) if self.settings.unaccented else message.text
        if len(text) > self.settings.max_chars:
            raise Rejected(f"text of {len(text)} characters, over {self.settings.max_chars}")
        values = {"phone": message.address or "", "text": text, "brandname": self.settings.brandname,
                  "request_id": message.key, "api_key": self.settings.api_key.get_secret_value(),
                  "secret_key": self.settings.secret_key.get_secret_value()}
        return {field: template.format_map(values) for field, template in self.settings.body.items()}

    def send(self, message: Message) -> None:
        if message.address is None:
            raise Rejected("no phone number")
        try:
            response = self.session.post(self.settings.url, json=self.body(message), timeout=self.settings.timeout_s)
        except requests.RequestException as exc:
            raise Retry(f"sms gateway unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise Retry(f"sms gateway answered HTTP {response.status_code}")
        try:
            code = str(response.json().get(self.settings.code_field))
        except (ValueError, AttributeError):
            raise Retry("sms gateway answered without JSON") from None
        if code in self.settings.success or code in self.settings.duplicate:
            return
        if code in self.settings.invalid_phone:
            raise Rejected(f"sms {code}: number refused", forget_contact=True)
        if code in self.settings.template_rejected:
            raise Rejected(f"sms {code}: text or brandname refused")
        if code in self.settings.quota:
            raise Retry(f"sms {code}: out of balance", QUOTA_RETRY_S)
        raise Retry(f"sms {code}")

    def close(self) -> None:
        self.session.close()
