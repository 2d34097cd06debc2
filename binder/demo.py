"""Prepare the Binder demo at container start; print the shell exports ``binder/start`` evals.

- the server's prefix from ``$JUPYTERHUB_SERVICE_PREFIX`` (Binder's ``/user/<id>/``; else ``/``)
  and its port from ``$JUPYTERHUB_SERVICE_URL`` (else 8888, repo2docker's default);
- the emulator's pool: the demo pool plus a "jupyterlab" app client whose callback and sign-out
  URLs are this server's loopback ones (the server's proxy turns them into paths for the
  browser), every route under ``<prefix>ai-access/cognito``, and the demo users' generated
  passwords on the sign-in page (this emulator is reachable only through this user's own,
  authenticated Jupyter server, and lives as long as the container);
- the app client's secret in a 0600 file; ``COGNITO_*`` for the server's standalone sign-in.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from urllib.parse import urlsplit

from jupyter_ai_access.files import ensure_private_dir, write_private_file
from jupyter_ai_access.local_cognito.generated import ensure_generated
from jupyter_ai_access.local_cognito.pool import load_pool
from jupyter_ai_access.local_cognito.process import HERE, find_free_port

CLIENT = "4jupyterlabdemo0000000000a"
REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Write the pool and the secret; print the exports."""
    prefix = "/" + os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").strip("/") + "/"
    prefix = prefix.replace("//", "/")
    port = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "")).port or 8888
    home = Path(os.environ.get("HOME", "."))
    state = Path(os.environ.get("JAIA_STATE_DIR") or home / ".local/state/jupyter-ai-access")
    ensure_private_dir(state, "JAIA_STATE_DIR")
    cognito_port, registry_port = find_free_port(), find_free_port()
    server = f"http://127.0.0.1:{port}{prefix}ai-access"
    base_path = f"{prefix}ai-access/cognito"

    raw = json.loads((HERE / "demo-pool.json").read_text(encoding="utf-8"))
    raw["app_clients"].append(
        {
            "name": "jupyterlab",
            "client_id": CLIENT,
            "generate_secret": True,
            "allowed_oauth_flows": ["code"],
            "allowed_oauth_scopes": [
                "openid",
                "email",
                "profile",
                "ai-access/datasets.read",
                "ai-access/models.write",
            ],
            "callback_urls": [f"{server}/callback"],
            "logout_urls": [f"{server}/status"],
            "token_validity": {"access_token": 3600, "id_token": 3600, "refresh_token": 86400},
        }
    )
    raw["base_path"] = base_path
    pool_file = state / "pool.json"
    write_private_file(pool_file, json.dumps(raw))
    generated = ensure_generated(state / "local-cognito", load_pool(pool_file))
    users = [
        f"{u['username']} / {generated.passwords[u['username']]}"
        f" ({', '.join(u['groups']) or 'no group'})"
        for u in raw["users"]
    ]
    raw["login_hint"] = "Demo users of this Binder's own emulator:\n" + "\n".join(users)
    write_private_file(pool_file, json.dumps(raw))
    secret_file = state / "jupyterlab-client-secret"
    write_private_file(secret_file, generated.client_secrets[CLIENT])

    cognito = f"http://127.0.0.1:{cognito_port}{base_path}"
    machine = next(c["client_id"] for c in raw["app_clients"] if c["name"] == "training-jobs")
    exports = {
        "JAIA_STATE_DIR": str(state),
        "JAIA_POOL_FILE": str(pool_file),
        "JAIA_COGNITO_PORT": str(cognito_port),
        "JAIA_REGISTRY_PORT": str(registry_port),
        "JAIA_REGISTRY_CLIENTS": f"{CLIENT},{machine}",
        "JUPYTER_AI_ACCESS_NODE_MODULES": str(REPO / "node_modules"),
        "COGNITO_ISSUER": f"{cognito}/{raw['user_pool_id']}",
        "COGNITO_DOMAIN": cognito,
        "COGNITO_CLIENT_ID": CLIENT,
        "COGNITO_CLIENT_SECRET_FILE": str(secret_file),
        "AI_ACCESS_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
