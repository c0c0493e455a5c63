"""Local stand-ins for outside services, checked the way the real ones check: a Web Push
service (verifies the VAPID JWT against the key in the request, the TTL and encoding
headers, and decrypts the aes128gcm payload with the subscription's private key), and
message providers answering with their documented codes. Real HTTP on 127.0.0.1.
Test support, not product code."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

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
                outer.local.sock = self.connection
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
        self.local = threading.local()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def client_gone(self) -> bool:
        """Whether the client of the request being handled closed its connection (it was
        killed while waiting for the answer)."""
        sock = self.local.sock
        sock.setblocking(False)
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            sock.setblocking(True)

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


class FakeZalo:
    """The ZNS send API and the OA token endpoint, answering with ZNS error codes: -124
    token invalid, -108 phone invalid, -118 no Zalo account, -109 unknown template, -117
    template not approved, -112 template data missing, -115 out of quota. Refresh tokens
    are single-use. `hold` makes the next send wait (before accepting) until `release`."""

    def __init__(self, app_id: str = "app-1", secret: str = "s3cret", refresh: str = "r-0", quota: int = 100):
        self.app_id, self.secret, self.refresh, self.quota = app_id, secret, refresh, quota
        self.access: str | None = None
        self.templates = {"tpl-near": {"number", "ahead", "minutes"}, "tpl-called": {"number", "counter"}}
        self.not_approved = {"tpl-draft"}
        self.no_zalo: set[str] = set()
        self.accepted: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.refreshes = 0
        self.hold = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = Server(self.handle)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if path == "/v4/oa/access_token":
            return self._token(headers, body)
        answer = self._send(headers, body)
        self.answers.append(answer["error"])
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def _token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        ok = (headers.get("secret_key") == self.secret and form.get("app_id") == self.app_id
              and form.get("grant_type") == "refresh_token" and form.get("refresh_token") == self.refresh)
        if not ok:
            return 400, {}, json.dumps({"error": -14014, "error_description": "invalid refresh token"}).encode()
        with self.lock:
            self.refreshes += 1
            self.access = f"a-{uuid.uuid4().hex}"
            self.refresh = f"r-{self.refreshes}"
        return 200, {}, json.dumps({"access_token": self.access, "refresh_token": self.refresh, "expires_in": "90000"}).encode()

    def _send(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if self.access is None or headers.get("access_token") != self.access:
            return {"error": -124, "message": "Access token is invalid"}
        request = json.loads(body)
        phone, template, data = request.get("phone", ""), request.get("template_id"), request.get("template_data")
        if not re.fullmatch(r"84\d{9}", phone):
            return {"error": -108, "message": "Phone number invalid"}
        if phone in self.no_zalo:
            return {"error": -118, "message": "Zalo account not existed"}
        if template in self.not_approved:
            return {"error": -117, "message": "OA or App does not have permission to access this template"}
        if template not in self.templates:
            return {"error": -109, "message": "Template ID invalid"}
        if not isinstance(data, dict) or not self.templates[template] <= set(data) or not all(isinstance(v, str) for v in data.values()):
            return {"error": -112, "message": "Template data invalid"}
        if self.hold.is_set():
            self.hold.clear()
            self.held.set()
            self.release.wait(30)
            if self.server.client_gone():
                return {"error": -100, "message": "client gone"}  # never accepted, never answered
        with self.lock:
            if self.quota <= 0:
                return {"error": -115, "message": "Out of quota"}
            self.quota -= 1
            self.accepted.append(request)
        return {"error": 0, "message": "Success", "data": {"msg_id": uuid.uuid4().hex, "sent_time": str(int(time.time() * 1000)),
                                                           "quota": {"remainingQuota": str(self.quota)}}}

    def close(self) -> None:
        self.server.close()


class FakeSms:
    """An SMS brandname gateway in the shape of common Vietnamese ones: CodeResult 100
    accepted, 101 bad keys, 103 out of balance, 104 brandname not registered, 108 phone
    format, 99 blocked number, 146 text not matching a registered customer-care template,
    124 duplicate RequestId. `hold`: accept the next message, then wait before answering."""

    def __init__(self, api_key: str = "k", secret: str = "s", brandname: str = "UBND-XA", balance: int = 100):
        self.api_key, self.secret, self.brandname, self.balance = api_key, secret, brandname, balance
        self.patterns = [re.compile(r"^Sap den luot so .+"), re.compile(r"^Moi cong dan co so thu tu .+")]
        self.blocked: set[str] = set()
        self.accepted: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.hold = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = Server(self.handle)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        with self.lock:
            self.requests.append(request)
        code = self._code(request)
        if code == "100" and self.hold.is_set():
            self.hold.clear()
            self.held.set()
            self.release.wait(30)
        return 200, {"Content-Type": "application/json"}, json.dumps({"CodeResult": code, "SMSID": uuid.uuid4().hex}).encode()

    def _code(self, request: dict[str, Any]) -> str:
        if request.get("ApiKey") != self.api_key or request.get("SecretKey") != self.secret:
            return "101"
        if request.get("Brandname") != self.brandname:
            return "104"
        phone, text = str(request.get("Phone", "")), str(request.get("Content", ""))
        if not re.fullmatch(r"(84|0)\d{9}", phone):
            return "108"
        if phone in self.blocked:
            return "99"
        if len(text) > 160 or not text.isascii() or not any(p.match(text) for p in self.patterns):
            return "146"
        with self.lock:
            if request.get("RequestId") in self.accepted:
                return "124"
            if self.balance <= 0:
                return "103"
            self.balance -= 1
            self.accepted[str(request.get("RequestId"))] = request
        return "100"

    def close(self) -> None:
        self.server.close()
