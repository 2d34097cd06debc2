"""Example protected resource: a training-data and model-registry API that accepts Cognito tokens.

It is the resource server ``model-registry`` of the demo pool and accepts only tokens bound to
that audience (``aud``, issued by Cognito's token exchange), with its scopes:

    GET  /datasets/<name>   needs scope model-registry/models.read, and for a person the group
                            ml-training (CSV); a job's machine token (no user) needs the scope
    GET  /models            needs scope model-registry/models.read (the list of uploaded models)
    POST /models/<name>     needs scope model-registry/models.write and group ml-publishers
    GET  /health            no token

With REGISTRY_ACCEPT_BROAD_TOKENS=true it also accepts the user's broad token (no ``aud``), which
must then carry the older scopes ai-access/datasets.read (reads) and ai-access/models.write.
Every accepted request prints an audit line saying who acted for whom::

    model registry: POST /models/demo by alice via jupyterhub-actor (client jupyterhub),
    aud model-registry

Every protected route is one ``@bearer_required(...)`` line over
:class:`jupyter_ai_access.resource.CognitoTokenVerifier`. Settings come from the environment
(the local Hub passes them when it starts this as a managed service):

    COGNITO_ISSUER (or COGNITO_REGION + COGNITO_USER_POOL_ID), COGNITO_CLIENT_IDS (the app
    clients whose tokens are accepted, comma- or space-separated: the Hub's or JupyterLab's, and
    jobs'; else the one COGNITO_CLIENT_ID), REGISTRY_PORT (8500), REGISTRY_DIR (where uploaded
    models are kept), REGISTRY_AUDIENCE (its resource server identifier, default model-registry;
    its scopes are <audience>/models.read and <audience>/models.write),
    REGISTRY_ACCEPT_BROAD_TOKENS (true/false, default false: only audience-bound tokens),
    REGISTRY_POOL_FILE (a pool description naming the app clients in the audit line; default
    the demo pool)

Run by hand: python examples/model_registry.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tornado import web

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import (
    ConfigurationError,
    GroupRequiredError,
    InsufficientScopeError,
    TokenError,
)
from jupyter_ai_access.protocol import CognitoEnv
from jupyter_ai_access.resource import (
    CognitoTokenVerifier,
    TokenClaims,
    bearer_error_response,
)
from jupyter_ai_access.resource.revocations import RevocationFeed
from jupyter_ai_access.resource.tornado_auth import bearer_required

READ = "ai-access/datasets.read"  # of a broad token (REGISTRY_ACCEPT_BROAD_TOKENS=true)
WRITE = "ai-access/models.write"
AUDIENCE = "model-registry"  # the demo pool's resource server for this registry
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def accept_broad_tokens(environ: Mapping[str, str]) -> bool:
    """$REGISTRY_ACCEPT_BROAD_TOKENS: true to accept the user's broad token too (default false)."""
    value = environ.get("REGISTRY_ACCEPT_BROAD_TOKENS", "").strip().lower()
    if value not in TRUE + FALSE:
        raise ConfigurationError(
            f"REGISTRY_ACCEPT_BROAD_TOKENS = {value!r}: set true (also accept the user's broad "
            "token) or false (only tokens bound to REGISTRY_AUDIENCE)"
        )
    return value in TRUE


def client_names(environ: Mapping[str, str]) -> dict[str, str]:
    """App client id -> name, from $REGISTRY_POOL_FILE (default: the demo pool), for audit lines.

    A file that cannot be read names nobody: the audit line then shows client ids.
    """
    try:
        pool = json.loads(Path(environ.get("REGISTRY_POOL_FILE") or DEMO_POOL_FILE).read_text())
        return {c["client_id"]: c["name"] for c in pool["app_clients"] if "client_id" in c}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def scope_for(claims: TokenClaims, name: str) -> str:
    """The scope a route needs: ``<audience>/<name>`` of a bound token, the older one of a broad
    token (models.read: ai-access/datasets.read, models.write: ai-access/models.write)."""
    audience = claims.audience
    if audience is not None:
        return f"{audience}/{name}"
    return READ if name == "models.read" else WRITE


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:128]


def audit_line(method: str, path: str, claims: TokenClaims, names: Mapping[str, str]) -> str:
    """Who acted for whom, e.g. ``alice via jupyterhub-actor (client jupyterhub), aud ...``."""

    def named(client_id: str) -> str:
        return names.get(client_id) or client_id

    user = claims.get("username") or claims["sub"]
    who = f"machine client {named(user)}" if is_machine(claims) else str(user)
    if claims.actor is not None:
        who += f" via {named(claims.actor)}"
    who += f" (client {named(claims['client_id'])})"
    bound = claims.audience
    who += f", aud {bound}" if bound else ", broad token"
    return _printable(f"model registry: {method} {path} by {who}")


def accepted_clients(environ: Mapping[str, str]) -> list[str]:
    """The app clients whose tokens are accepted: $COGNITO_CLIENT_IDS, else $COGNITO_CLIENT_ID.

    COGNITO_CLIENT_ID is one id wherever it is read: a list there is refused, naming the list's
    own variable.
    """
    many = environ.get(CognitoEnv.CLIENT_IDS, "").replace(",", " ").split()
    one = environ.get(CognitoEnv.CLIENT_ID, "").strip()
    if not many and ("," in one or " " in one):
        raise ConfigurationError(
            f"{CognitoEnv.CLIENT_ID} = {one!r} holds several ids: it names one app client; list "
            f"the app clients this resource accepts in {CognitoEnv.CLIENT_IDS}"
        )
    if not (many or one):
        raise ConfigurationError(
            f"Set {CognitoEnv.CLIENT_IDS} (or {CognitoEnv.CLIENT_ID}): the app clients whose "
            "tokens this resource accepts"
        )
    return many or [one]


def make_verifier() -> CognitoTokenVerifier:
    """The verifier, from the environment: tokens bound to $REGISTRY_AUDIENCE (and broad tokens
    only with $REGISTRY_ACCEPT_BROAD_TOKENS)."""
    issuer = os.environ.get(CognitoEnv.ISSUER) or None
    return CognitoTokenVerifier(
        issuer=issuer,
        region=None if issuer else os.environ.get(CognitoEnv.REGION),
        user_pool_id=None if issuer else os.environ.get(CognitoEnv.USER_POOL_ID),
        client_ids=accepted_clients(os.environ),
        audience=os.environ.get("REGISTRY_AUDIENCE") or AUDIENCE,
        accept_broad_tokens=accept_broad_tokens(os.environ),
        # Run as a Hub service, it follows the Hub's revocation feed: a session that ended
        # (logout, removal from the groups) is refused within seconds, not at the token's exp.
        denied_origin_jtis=(
            RevocationFeed.for_hub_service() if os.environ.get("JUPYTERHUB_API_URL") else None
        ),
    )


def is_machine(claims: dict[str, Any]) -> bool:
    """A job's client_credentials token: no user, its ``sub`` is the app client itself."""
    return "username" not in claims and claims.get("sub") == claims.get("client_id")


def dataset(name: str, rows: int = 200) -> str:
    """A small deterministic regression data set: y = 3x + 2 + noise."""
    rng = random.Random(name)  # noqa: S311 - deterministic demo data, not a secret
    lines = ["x,y"]
    for _ in range(rows):
        x = rng.uniform(0, 10)
        lines.append(f"{x:.4f},{3 * x + 2 + rng.gauss(0, 0.5):.4f}")
    return "\n".join(lines) + "\n"


def refuse(handler: web.RequestHandler, error: TokenError) -> None:
    """Answer a refusal the RFC 6750 way."""
    status, headers, body = bearer_error_response(error)
    handler.set_status(status)
    for header, value in headers.items():
        handler.set_header(header, value)
    handler.finish(body)


def make_app(
    verifier: CognitoTokenVerifier, models_dir: Path, names: Mapping[str, str] | None = None
) -> web.Application:
    """The registry's tornado application; ``names`` (client id -> name) for the audit lines."""
    models_dir.mkdir(parents=True, exist_ok=True)
    names = dict(names or {})

    def allowed(handler: web.RequestHandler, scope: str, group: str | None = None) -> bool:
        """Check the route's scope, then group; print the audit line. False: refused (answered)."""
        claims: TokenClaims = handler.cognito_claims  # type: ignore[attr-defined]
        needed = scope_for(claims, scope)
        if needed not in claims.get("scope", "").split(" "):
            refuse(handler, InsufficientScopeError([needed]))
            return False
        if group is not None and group not in claims.get("cognito:groups", []):
            refuse(handler, GroupRequiredError([group]))
            return False
        request = handler.request
        print(audit_line(request.method or "", request.path, claims, names), flush=True)
        return True

    class Health(web.RequestHandler):
        def get(self) -> None:
            self.finish({"status": "ok"})

    class Dataset(web.RequestHandler):
        cognito_claims: TokenClaims

        @bearer_required(verifier)
        def get(self, name: str) -> None:
            # A job's machine token has no user, hence no group: the scope is enough.
            group = None if is_machine(self.cognito_claims) else "ml-training"
            if not allowed(self, "models.read", group):
                return
            if not NAME.match(name):
                raise web.HTTPError(400, "bad data set name")
            self.set_header("Content-Type", "text/csv")
            self.finish(dataset(name))

    class Models(web.RequestHandler):
        @bearer_required(verifier)
        def get(self) -> None:
            if not allowed(self, "models.read"):
                return
            self.finish({"models": sorted(p.stem for p in models_dir.glob("*.json"))})

    class Model(web.RequestHandler):
        cognito_claims: TokenClaims

        @bearer_required(verifier)
        def post(self, name: str) -> None:
            if not allowed(self, "models.write", "ml-publishers"):
                return
            if not NAME.match(name):
                raise web.HTTPError(400, "bad model name")
            if len(self.request.body) > 1_000_000:
                raise web.HTTPError(413, "model larger than 1 MB")
            try:
                model = json.loads(self.request.body)
            except ValueError:
                raise web.HTTPError(400, "the model must be JSON") from None
            record = {
                "name": name,
                "uploaded_by": self.cognito_claims.get("username") or self.cognito_claims["sub"],
                "uploaded_at": time.time(),
                "model": model,
            }
            (models_dir / f"{name}.json").write_text(json.dumps(record))
            self.set_status(201)
            self.finish({"stored": name, "uploaded_by": record["uploaded_by"]})

    return web.Application(
        [
            (r"/health", Health),
            (r"/datasets/([^/]+)", Dataset),
            (r"/models", Models),
            (r"/models/([^/]+)", Model),
        ]
    )


async def main() -> None:
    """Serve on 127.0.0.1:$REGISTRY_PORT until stopped."""
    port = int(os.environ.get("REGISTRY_PORT", "8500"))
    models = Path(os.environ.get("REGISTRY_DIR", ".state/registry"))
    make_app(make_verifier(), models, client_names(os.environ)).listen(port, "127.0.0.1")
    print(f"model registry on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the Hub stops its services so: no traceback
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    print("model registry stopped", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConfigurationError as e:  # one line that names the variable, no traceback
        raise SystemExit(str(e)) from None
