"""Example protected resource: a training-data and model-registry API that accepts Cognito tokens.

    GET  /datasets/<name>   needs scope ai-access/datasets.read, and for a person the group
                            ml-training (CSV); a job's machine token (no user) needs the scope
    GET  /models            needs scope ai-access/datasets.read (the list of uploaded models)
    POST /models/<name>     needs scope ai-access/models.write and group ml-publishers
    GET  /health            no token

Every protected route is one ``@bearer_required(...)`` line over
:class:`jupyter_ai_access.resource.CognitoTokenVerifier`. Settings come from the environment
(the local Hub passes them when it starts this as a managed service):

    COGNITO_ISSUER (or COGNITO_REGION + COGNITO_USER_POOL_ID), COGNITO_CLIENT_IDS (the app
    clients whose tokens are accepted, comma- or space-separated: the Hub's or JupyterLab's, and
    jobs'; else the one COGNITO_CLIENT_ID), REGISTRY_PORT (8500), REGISTRY_DIR (where uploaded
    models are kept)

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

from jupyter_ai_access.errors import ConfigurationError, GroupRequiredError
from jupyter_ai_access.protocol import CognitoEnv
from jupyter_ai_access.resource import CognitoTokenVerifier, bearer_error_response
from jupyter_ai_access.resource.revocations import RevocationFeed
from jupyter_ai_access.resource.tornado_auth import bearer_required

READ = "ai-access/datasets.read"
WRITE = "ai-access/models.write"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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
    """The verifier, from the environment."""
    issuer = os.environ.get(CognitoEnv.ISSUER) or None
    return CognitoTokenVerifier(
        issuer=issuer,
        region=None if issuer else os.environ.get(CognitoEnv.REGION),
        user_pool_id=None if issuer else os.environ.get(CognitoEnv.USER_POOL_ID),
        client_ids=accepted_clients(os.environ),
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


def make_app(verifier: CognitoTokenVerifier, models_dir: Path) -> web.Application:
    """The registry's tornado application."""
    models_dir.mkdir(parents=True, exist_ok=True)

    class Health(web.RequestHandler):
        def get(self) -> None:
            self.finish({"status": "ok"})

    class Dataset(web.RequestHandler):
        @bearer_required(verifier, scopes=[READ])
        def get(self, name: str) -> None:
            claims = self.cognito_claims
            if not is_machine(claims) and "ml-training" not in claims.get("cognito:groups", []):
                status, headers, body = bearer_error_response(GroupRequiredError(["ml-training"]))
                self.set_status(status)
                for header, value in headers.items():
                    self.set_header(header, value)
                self.finish(body)
                return
            if not NAME.match(name):
                raise web.HTTPError(400, "bad data set name")
            self.set_header("Content-Type", "text/csv")
            self.finish(dataset(name))

    class Models(web.RequestHandler):
        @bearer_required(verifier, scopes=[READ])
        def get(self) -> None:
            self.finish({"models": sorted(p.stem for p in models_dir.glob("*.json"))})

    class Model(web.RequestHandler):
        @bearer_required(verifier, scopes=[WRITE], groups=["ml-publishers"])
        def post(self, name: str) -> None:
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
    make_app(make_verifier(), models).listen(port, "127.0.0.1")
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
