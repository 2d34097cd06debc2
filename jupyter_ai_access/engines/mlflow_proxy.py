"""An MLflow tracking server behind our verifier: runs belong to the person whose token made them.

MLflow's own server has no notion of who calls it: the client says who it is (``user_id``, the
``mlflow.user`` tag) and anyone may delete anyone's run. This proxy sits in front of it on
loopback (the tracking server binds 127.0.0.1 only and is reached through here):

- every request needs a valid Cognito access token (``Authorization: Bearer``): none or a bad
  one is 401 (RFC 6750), saying what to send; reads need :data:`READ_SCOPE`, writes
  :data:`WRITE_SCOPE`;
- ``runs/create`` records the run as the token's ``username`` (``user_id`` and the
  ``mlflow.user`` tag), whatever the client claimed; ``experiments/create`` tags the experiment
  with its owner (:data:`OWNER_TAG`);
- a write to a run (log, tag, update, delete, restore, artifacts uploaded through
  ``--serve-artifacts``) or to an experiment (delete, restore, rename, tags) is 403 unless the
  token's user owns it; the owner is looked up from the tracking server itself;
- any other write (endpoints this proxy does not know: model registry, traces, logged models)
  is 403: refused, not passed through unchecked.

Reads (runs, metrics, artifacts) are open to every verified user, as in a shared tracker.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from tornado import httpclient, web

from ..cognito.verify import CognitoTokenVerifier
from ..errors import IdentityProviderError, TokenError
from ..resource.bearer import bearer_error_response, extract_bearer

__all__ = ["OWNER_TAG", "READ_SCOPE", "WRITE_SCOPE", "make_app"]

#: the tag MLflow's UI shows as a run's user; also set on experiments (their owner)
OWNER_TAG = "mlflow.user"
READ_SCOPE = "tracker/runs.read"
WRITE_SCOPE = "tracker/runs.write"

_API = re.compile(r"^/(?:ajax-)?api/2\.0/mlflow/(.+)$")
_ARTIFACTS = re.compile(
    r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/(?:artifacts|mpu/(?:create|complete|abort))/"
    r"([^/]+)/([^/]+)/"
)
_RUN_WRITES = {
    "runs/delete", "runs/restore", "runs/update", "runs/log-metric", "runs/log-parameter",
    "runs/set-tag", "runs/delete-tag", "runs/log-batch", "runs/log-model", "runs/log-inputs",
    "runs/log-outputs",
}
_EXPERIMENT_WRITES = {
    "experiments/delete", "experiments/restore", "experiments/update",
    "experiments/set-experiment-tag", "experiments/delete-experiment-tag",
}
_POST_READS = {"runs/search", "experiments/search"}
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te",
        "trailer", "upgrade", "proxy-authorization", "proxy-authenticate", "authorization"}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TrackingProxyHandler(web.RequestHandler):
    """Every path: verify, apply the ownership rules, forward to the tracking server."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, verifier: CognitoTokenVerifier, backend: str) -> None:
        self.verifier = verifier
        self.backend = backend.rstrip("/")
        self.client = httpclient.AsyncHTTPClient()

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        code = "PERMISSION_DENIED" if status == 403 else "UNAUTHENTICATED"
        self.finish(json.dumps({"error_code": code, "message": message}))

    async def _serve(self) -> None:
        write = self.request.method not in ("GET", "HEAD")
        path = self.request.path
        api = _API.match(path)
        endpoint = api.group(1) if api else ""
        if endpoint in _POST_READS:
            write = False
        try:
            token = extract_bearer(self.request.headers.get("Authorization"))
            claims = await self.verifier.verify_async(
                token, scopes=[WRITE_SCOPE if write else READ_SCOPE]
            )
        except (TokenError, IdentityProviderError) as e:
            status, headers, refusal = bearer_error_response(e)
            self.set_status(status)
            for name, value in headers.items():
                self.set_header(name, value)
            message = (
                f"MLflow tracking server: {refusal.get('error_description') or e}. Send "
                "'Authorization: Bearer <the Cognito access token>' (in a kernel with "
                "jupyter_ai_access, MLflow's client sends it itself; no MLFLOW_TRACKING_TOKEN)"
            )
            self.finish({"error_code": "UNAUTHENTICATED", "message": message})
            return
        # a person's username; a job's machine token (client_credentials) has its client id as sub
        user = str(claims.get("username") or claims.get("sub") or "")
        body = self.request.body
        try:
            if not user:
                raise _Refused(403, "MLflow tracking proxy: the token names no user")
            if write:
                body = await self._authorize_write(path, endpoint, user, body)
        except _Refused as e:
            self._error(e.status, str(e))
            return
        await self._forward(body)

    async def _authorize_write(self, path: str, endpoint: str, user: str, body: bytes) -> bytes:
        artifact = _ARTIFACTS.match(path)
        if artifact:
            # the owner is read from the path's run segment: a path that could climb out of it
            # (.., encoded separators or dots, backslashes) is refused, not normalized
            if re.search(r"(^|/)\.\.(/|$)|%2[ef]|\\|%5c", path, re.IGNORECASE):
                raise _Refused(403, "MLflow tracking proxy: artifact paths may not contain "
                                    "'..' or encoded separators")
            await self._own_run(artifact.group(2), user)
            return body
        if not endpoint:
            raise _Refused(403, f"MLflow tracking proxy: writes to {path} are not allowed")
        payload = _json(body)
        if endpoint == "runs/create":
            tags = [t for t in payload.get("tags") or [] if t.get("key") != OWNER_TAG]
            payload["tags"] = [*tags, {"key": OWNER_TAG, "value": user}]
            payload["user_id"] = user
            return json.dumps(payload).encode()
        if endpoint == "experiments/create":
            # artifacts go where the server says (served through here), never a client's choice
            payload.pop("artifact_location", None)
            tags = [t for t in payload.get("tags") or [] if t.get("key") != OWNER_TAG]
            payload["tags"] = [*tags, {"key": OWNER_TAG, "value": user}]
            return json.dumps(payload).encode()
        if endpoint in _RUN_WRITES:
            if payload.get("key") == OWNER_TAG or any(
                t.get("key") == OWNER_TAG for t in payload.get("tags") or []
            ):
                raise _Refused(403, f"MLflow tracking proxy: the tag {OWNER_TAG} is the owner's")
            await self._own_run(str(payload.get("run_id") or payload.get("run_uuid") or ""), user)
            return body
        if endpoint in _EXPERIMENT_WRITES:
            if payload.get("key") == OWNER_TAG:
                raise _Refused(403, f"MLflow tracking proxy: the tag {OWNER_TAG} is the owner's")
            await self._own_experiment(str(payload.get("experiment_id") or ""), user)
            return body
        raise _Refused(
            403, f"MLflow tracking proxy: {endpoint} is not allowed (not known to the proxy)"
        )

    async def _lookup(self, endpoint: str, name: str, value: str) -> dict[str, Any]:
        if not value:
            raise _Refused(403, f"MLflow tracking proxy: {name} is missing")
        url = f"{self.backend}/api/2.0/mlflow/{endpoint}?{name}={quote(value)}"
        response = await self.client.fetch(url, raise_error=False)
        if response.code != 200:
            raise _Refused(403, f"MLflow tracking proxy: no {name} {value!r} to check the owner")
        return json.loads(response.body)  # type: ignore[no-any-return]

    async def _own_run(self, run_id: str, user: str) -> None:
        run = (await self._lookup("runs/get", "run_id", run_id)).get("run", {})
        owner = run.get("info", {}).get("user_id")
        if owner != user:
            raise _Refused(
                403, f"MLflow tracking proxy: run {run_id} belongs to {owner!r}, not to {user!r}"
            )

    async def _own_experiment(self, experiment_id: str, user: str) -> None:
        found = await self._lookup("experiments/get", "experiment_id", experiment_id)
        tags = {t.get("key"): t.get("value") for t in found.get("experiment", {}).get("tags", [])}
        if tags.get(OWNER_TAG) != user:
            raise _Refused(
                403,
                f"MLflow tracking proxy: experiment {experiment_id} belongs to "
                f"{tags.get(OWNER_TAG)!r}, not to {user!r}",
            )

    async def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in _HOP}
        request = httpclient.HTTPRequest(
            self.backend + self.request.uri,
            method=self.request.method,
            headers=headers,
            body=body if self.request.method in ("POST", "PUT", "PATCH") else None,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,  # passed through as encoded, with its Content-Encoding
            request_timeout=600,
        )
        response = await self.client.fetch(request, raise_error=False)
        if response.code == 599:
            self._error(502, f"MLflow tracking proxy: the tracking server did not answer "
                             f"({response.error})")
            return
        self.set_status(response.code, response.reason)
        for name, value in response.headers.get_all():
            if name.lower() not in _HOP and name.lower() != "server":
                self.add_header(name, value)
        self.finish(None if self.request.method == "HEAD" else response.body or b"")

    get = head = post = put = patch = delete = _serve


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError as e:
        raise _Refused(403, "MLflow tracking proxy: the request body is not JSON") from e
    if not isinstance(payload, dict):
        raise _Refused(403, "MLflow tracking proxy: the request body is not a JSON object")
    return payload


def make_app(verifier: CognitoTokenVerifier, backend: str) -> web.Application:
    """The proxy: every request verified, then checked, then sent to ``backend`` (loopback)."""
    return web.Application(
        [(r"/.*", TrackingProxyHandler, {"verifier": verifier, "backend": backend})],
    )
