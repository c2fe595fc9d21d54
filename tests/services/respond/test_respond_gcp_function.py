"""Talon's `gcp:function`: FunctionService.GetFunction (Cloud Functions v2) for the
function's URL, then an HTTPS-style POST of the alert with a Google ID token for that URL.

Nothing of Google's can run here, so each part is played by a DOUBLE on loopback speaking
the published protocol: a gRPC server answering `google.cloud.functions.v2.FunctionService/
GetFunction` with Google's own message types (tests/helpers/grpc_double.py; the real client
is pointed at it through its gRPC transport), an OAuth token endpoint that checks the signed
JWT assertion google-auth sends for a service account key (a key made for the test, its
`token_uri` the double) and answers with an ID token, and the function itself, which
checks that token.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from google.auth.credentials import AnonymousCredentials
from google.cloud.functions_v2.types import Function, GetFunctionRequest, ServiceConfig
from respond_helpers import make_alert

from helpers.grpc_double import GrpcDouble
from lanner.exceptions import ActionError
from lanner.services.respond.actions import TALON, ActionContext, talon_cloud
from lanner.services.respond.alert import Alert


@dataclass
class Google:
    """The token endpoint and the function, one loopback HTTP server."""

    key_pem: bytes
    public_pem: bytes
    url: str = ""
    function_status: int = 200
    calls: list[dict[str, Any]] = field(default_factory=list)
    id_tokens: list[str] = field(default_factory=list)


@pytest.fixture
def google() -> Iterator[Google]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    public = key.public_key().public_bytes(serialization.Encoding.PEM, spki)
    state = Google(pem, public)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/token":  # google-auth's JWT-bearer grant for an ID token
                form = urllib.parse.parse_qs(body.decode())
                # the assertion is addressed to Google's token endpoint whatever token_uri is
                claims = jwt.decode(form["assertion"][0], certs=public, verify=True,
                                    audience="https://oauth2.googleapis.com/token")  # fmt: skip
                assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
                signer = crypt.RSASigner.from_string(pem)
                now = int(time.time())
                token = jwt.encode(signer, {"aud": claims["target_audience"], "iat": now,
                                            "exp": now + 3600, "iss": "https://accounts.google.com",
                                            "email": claims["iss"]}).decode()  # fmt: skip
                state.id_tokens.append(token)
                self._answer(200, json.dumps({"id_token": token}).encode())
                return
            auth = self.headers.get("Authorization", "")
            claims = jwt.decode(auth.removeprefix("Bearer "), certs=public, verify=True,
                                audience=f"{state.url}{self.path}")  # fmt: skip
            state.calls.append({"path": self.path, "claims": claims, "body": json.loads(body),
                                "type": self.headers.get("Content-Type")})  # fmt: skip
            self._answer(state.function_status, b"handled")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def functions(google: Google, monkeypatch: pytest.MonkeyPatch) -> Iterator[GrpcDouble]:
    """The FunctionService double; the real client reaches it through its gRPC transport."""
    from google.cloud import functions_v2
    from google.cloud.functions_v2.services.function_service.transports import (
        FunctionServiceGrpcTransport,
    )

    double = GrpcDouble(
        "/google.cloud.functions.v2.FunctionService/GetFunction",
        GetFunctionRequest,
        lambda req: Function(name=req.name, service_config=ServiceConfig(
            uri=f"{google.url}/{req.name.rsplit('/', 1)[1]}")),
    )  # fmt: skip

    def client(credentials: Any) -> Any:
        channel = grpc.insecure_channel(f"127.0.0.1:{double.port}")
        transport = FunctionServiceGrpcTransport(channel=channel,
                                                 credentials=AnonymousCredentials())  # fmt: skip
        return functions_v2.FunctionServiceClient(transport=transport)

    monkeypatch.setattr(talon_cloud, "functions_client", client)
    yield double
    double.stop()


def _key_file(google: Google, tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "lanner-test", "private_key_id": "k1",
        "private_key": google.key_pem.decode(), "client_id": "1",
        "client_email": "talon@lanner-test.iam.gserviceaccount.com",
        "token_uri": f"{google.url}/token",
    }))  # fmt: skip
    return path


def _ctx(params: dict[str, Any], conf: dict[str, Any]) -> ActionContext:
    cls = TALON["gcp:function"]
    assert cls.validate(params) == []
    return ActionContext(alert=Alert.from_dict(make_alert()), rule="r",
                         params=cls.with_defaults(params), dry_run=False,
                         settings={"gcp": conf})  # fmt: skip


def test_the_function_gets_the_alert_with_an_id_token_for_its_url(
    google: Google, functions: GrpcDouble, tmp_path: Path
) -> None:
    conf = {"credentials_path": str(_key_file(google, tmp_path))}
    params = {"gcp_function_name": "simple-http-function", "gcp_function_location": "europe-west1"}
    result = TALON["gcp:function"]().run(_ctx(params, conf))
    name = "projects/lanner-test/locations/europe-west1/functions/simple-http-function"
    assert [r.name for r in functions.requests] == [name]
    (call,) = google.calls
    assert call["path"] == "/simple-http-function" and call["type"] == "application/json"
    assert call["body"] == make_alert()
    assert call["claims"]["aud"] == f"{google.url}/simple-http-function"
    assert call["claims"]["email"] == "talon@lanner-test.iam.gserviceaccount.com"
    assert result.target == f"function {name}"
    assert result.changes == {"url": f"{google.url}/simple-http-function", "status": 200,
                              "output": "handled"}  # fmt: skip
    # Talon's config may give the key's JSON text itself (that is how Talon reads the key)
    conf = {"credentials_path": _key_file(google, tmp_path).read_text()}
    TALON["gcp:function"]().run(_ctx(params, conf))
    assert len(google.calls) == 2


def test_function_failures_fail_the_action(
    google: Google, functions: GrpcDouble, tmp_path: Path
) -> None:
    conf = {"credentials_path": str(_key_file(google, tmp_path))}
    params = {"gcp_function_name": "fn"}
    google.function_status = 500
    with pytest.raises(ActionError, match="HTTP 500: handled") as info:
        TALON["gcp:function"]().run(_ctx(params, conf))
    assert info.value.transient and info.value.changes["status"] == 500
    google.function_status = 403
    with pytest.raises(ActionError, match="HTTP 403") as info:
        TALON["gcp:function"]().run(_ctx(params, conf))
    assert not info.value.transient

    def missing(req: Any) -> Any:
        raise LookupError(f"{req.name} not found")

    functions.reply = missing
    with pytest.raises(
        ActionError, match="projects/lanner-test/locations/us-central1/functions/fn"
    ):
        TALON["gcp:function"]().run(_ctx(params, conf))
    functions.reply = lambda req: Function(name=req.name)  # no URL (not deployed yet)
    with pytest.raises(ActionError, match="the function has no URL"):
        TALON["gcp:function"]().run(_ctx(params, conf))
    with pytest.raises(ActionError, match=r"gcp\.credentials_path /nope\.json"):
        TALON["gcp:function"]().run(_ctx(params, {"credentials_path": "/nope.json"}))
    assert TALON["gcp:function"].validate({"gcp_function_location": "x"}) == [
        "action 'gcp:function' needs parameter 'gcp_function_name'"
    ]
