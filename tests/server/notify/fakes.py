"""Local stand-ins for outside services, checked the way the real ones check: a Web Push
service (verifies the VAPID JWT against the key in the request, the TTL and encoding
headers, and decrypts the aes128gcm payload with the subscription's private key), and
message providers answering with their documented codes. Real HTTP on 127.0.0.1.
Test support, not product code."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Server:
    """A threaded HTTP server whose `handle(method, path, headers, body)` returns
    (status, headers, body); request header names arrive lower-cased."""

    def __init__(self, handle: Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, answer = outer.handle(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET = _any

            def log_message(self, *args: Any) -> None:
                return None

        self.handle = handle
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class PushService:
    """A push service: endpoint /push/<behaviour>/<n>. Behaviours: ok, gone (410), big
    (413), busy (429 with Retry-After once, then 201), down (503 always)."""

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []  # decrypted payloads accepted
        self.refused: list[str] = []
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.server = Server(self.handle)

    def subscription(self, behaviour: str = "ok") -> tuple[dict[str, Any], ec.EllipticCurvePrivateKey, bytes]:
        """A browser's subscription: (JSON the page posts, its private key, its auth secret)."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        endpoint = f"{self.server.url}/push/{behaviour}/{os.urandom(6).hex()}"
        self.keys = getattr(self, "keys", {})
        self.keys[endpoint.rsplit("/", 1)[1]] = (key, auth)
        return {"endpoint": endpoint, "keys": {"p256dh": b64e(public), "auth": b64e(auth)}}, key, auth

    def _vapid_ok(self, headers: dict[str, str]) -> str | None:
        """None when the VAPID header is valid for this origin; else why not."""
        auth = headers.get("authorization", "")
        if not auth.startswith("vapid "):
            return "no vapid authorization"
        parts = dict(p.strip().split("=", 1) for p in auth[6:].split(","))
        token, public = parts.get("t", ""), parts.get("k", "")
        head, claims, signature = token.split(".")
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(public))
        raw = b64d(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except Exception:  # noqa: BLE001 - any verification failure is a refusal
            return "bad signature"
        body = json.loads(b64d(claims))
        if json.loads(b64d(head)).get("alg") != "ES256":
            return "alg"
        if body.get("aud") != self.server.url:
            return f"aud {body.get('aud')}"
        if not (time.time() < body.get("exp", 0) <= time.time() + 24 * 3600):
            return "exp"
        if not str(body.get("sub", "")).startswith(("mailto:", "https:")):
            return "sub"
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        _, _, behaviour, name = path.split("/")
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            calls = self.calls[name]
        problem = self._vapid_ok(headers)
        if problem is None and headers.get("content-encoding") != "aes128gcm":
            problem = "encoding"
        if problem is None and "ttl" not in headers:
            problem = "no TTL"
        if problem is not None:
            self.refused.append(problem)
            return 403, {}, problem.encode()
        if behaviour == "gone":
            return 410, {}, b""
        if behaviour == "big":
            return 413, {}, b""
        if behaviour == "down":
            return 503, {}, b""
        if behaviour == "busy" and calls == 1:
            return 429, {"Retry-After": "0"}, b""
        key, auth = self.keys[name]
        payload = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
        with self.lock:
            self.delivered.append({"endpoint": name, "payload": json.loads(payload), "ttl": headers["ttl"],
                                   "urgency": headers.get("urgency"), "topic": headers.get("topic")})
        return 201, {"Location": f"{self.server.url}/m/{name}"}, b""

    def close(self) -> None:
        self.server.close()
