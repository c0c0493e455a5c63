"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291),
through the pywebpush and py-vapid libraries: a message for a ticket page the citizen has
closed, where the office has internet. The VAPID key is made on first start (PEM, 0600).

The push service's answers: 201/202 delivered; 404/410 the subscription is gone (the
contact is deleted); 400/413 this message can never go; 429 and 5xx later (Retry-After
honoured). The endpoint and keys are never logged. Imports server.notify.channels only.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher

from server.notify.channels import Message, Rejected, Retry
from server.settings import WebPushSection

TITLES = {"near": "Sắp đến lượt của bạn", "called": "Đã đến lượt bạn", "recalled": "Đã đến lượt bạn",
          "booking_day_before": "Nhắc lịch hẹn", "booking_soon": "Nhắc lịch hẹn", "rating": "Mời bạn đánh giá"}


def vapid_key_path(settings: WebPushSection, database: Path) -> Path:
    return settings.key_file or database.with_name(database.stem + "-vapid.pem")


def load_or_make_key(path: Path) -> Vapid02:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        vapid = Vapid02()
        vapid.generate_keys()
        pem = vapid.private_pem()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return Vapid02.from_file(str(path))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def retry_after_s(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class WebPushChannel:
    name: ClassVar[str] = "webpush"
    needs_contact: ClassVar[bool] = True

    def __init__(self, settings: WebPushSection, key_path: Path):
        self.settings = settings
        self.vapid = load_or_make_key(key_path)
        public = self.vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        # What the page passes to pushManager.subscribe as applicationServerKey.
        self.application_server_key = b64url(public)
        self.session = requests.Session()

    def send(self, message: Message) -> None:
        if message.address is None:
            raise Rejected("no subscription")
        subscription = json.loads(message.address)
        endpoint = urlparse(subscription["endpoint"])
        claims: dict[str, str | int] = {"sub": self.settings.subject, "aud": f"{endpoint.scheme}://{endpoint.netloc}",
                                        "exp": int(time.time()) + 12 * 3600}
        headers: dict[str, str | int | float] = dict(self.vapid.sign(claims))
        headers["Urgency"] = "high" if message.kind in ("called", "recalled") else "normal"
        headers["Topic"] = message.kind[:32].replace("_", "-")  # a newer message of a kind replaces an undelivered one
        payload = json.dumps({"title": TITLES.get(message.kind, "xephang"), "body": message.text,
                              "tag": f"xephang-{message.kind}", "url": f"/t/{message.ticket_id}"}, ensure_ascii=False)
        try:
            response = WebPusher(subscription, requests_session=self.session).send(
                payload, headers, ttl=self.settings.ttl_s, content_encoding="aes128gcm", timeout=self.settings.timeout_s)
        except requests.RequestException as exc:
            raise Retry(f"push service unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if status in (200, 201, 202):
            return
        if status in (404, 410):
            raise Rejected(f"subscription gone ({status})", forget_contact=True)
        if status in (400, 403, 413):
            raise Rejected(f"push service refused the message ({status})")
        raise Retry(f"push service answered {status}", retry_after_s(response.headers.get("Retry-After")))

    def close(self) -> None:
        self.session.close()
