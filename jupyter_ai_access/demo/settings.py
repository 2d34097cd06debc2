"""The local deployment's fixed settings: ports, URLs, folders, the demo pool, its ``JAIA_*`` names.

One place that ``./run-demo``, ``jupyterhub_config.py``, the supervisor and the tests read, so a
default changes here only. Every value can be moved at run time by the ``JAIA_*`` variable named
beside it (docs/tutorial/local-demo.md, "What runs"). Standard library only.
"""

from __future__ import annotations

from pathlib import Path

from ..protocol import RENAMED_ENV

__all__ = [
    "ACCOUNT_PREFIX",
    "DEMO_POOL_FILE",
    "DEMO_PORTS",
    "DEMO_SETTINGS",
    "HOST",
    "HUB_CLIENT",
    "ISOLATION_MODES",
    "STATE_DIR",
    "local_url",
]

#: Every service of the demo binds this address only.
HOST = "127.0.0.1"

#: What the local deployment binds: name -> (environment variable, default port).
DEMO_PORTS = {
    "JupyterHub": ("JAIA_HUB_PORT", 8000),
    "the proxy's API": ("JAIA_PROXY_API_PORT", 8001),
    "the Hub's internal API": ("JAIA_HUB_API_PORT", 8081),
    "the example registry": ("JAIA_REGISTRY_PORT", 8500),
    "the local AWS emulator": ("JAIA_AWS_PORT", 9230),
    "the local Cognito emulator": ("JAIA_COGNITO_PORT", 9229),
}

#: Every other ``JAIA_*`` variable something in this repository reads (the demo, Binder, tests).
DEMO_SETTINGS = (
    "JAIA_STATE_DIR",
    "JAIA_POOL_FILE",
    "JAIA_PUBLIC_URL",
    "JAIA_ACCOUNT_PREFIX",
    "JAIA_ISOLATION",
    "JAIA_LOCAL_AWS",
    "JAIA_MLFLOW",
    "JAIA_MLFLOW_PORT",
    "JAIA_STOP_SERVERS_WITH_HUB",
    "JAIA_LOCAL_AWS_OPERATOR_SECRET",
    "JAIA_SUPERVISOR_TOKEN",
    "JAIA_WORK_DIR",
    "JAIA_REGISTRY_CLIENTS",
    "JAIA_Z2JH_DIR",
    "JAIA_README_SCREENSHOTS",
    *RENAMED_ENV,  # old names still read, with a warning naming the new one
)

#: ``JAIA_POOL_FILE``: the pool description the emulators run (shipped in the wheel).
DEMO_POOL_FILE = Path(__file__).resolve().parent.parent / "local_cognito" / "demo-pool.json"

#: ``JAIA_STATE_DIR``: the Hub's database, keys, the emulators' state (relative to the checkout).
STATE_DIR = ".state"

#: ``JAIA_ACCOUNT_PREFIX``: the system accounts of the demo's users are ``<prefix><name>``.
ACCOUNT_PREFIX = "jaia-"

#: ``JAIA_ISOLATION``: "accounts" (one system account per user; needs root) or "off".
ISOLATION_MODES = ("accounts", "off")

#: The demo pool's app client the Hub signs users in with.
HUB_CLIENT = "jupyterhub"


def local_url(port: int, host: str = HOST) -> str:
    """``http://127.0.0.1:<port>``: where a demo service answers (no trailing slash)."""
    return f"http://{host}:{port}"
