"""Run an MLflow tracking server behind :mod:`.mlflow_proxy`: ``python -m ...mlflow_service``.

Starts ``mlflow server`` (from its own environment: ``--mlflow``, the ``mlflow`` command of a venv
made with ``constraints-mlflow-server.txt``) on a free loopback port, with a SQLite store and
artifacts served by the tracking server (``--serve-artifacts``) in ``<state>/artifacts``, waits
until it answers, then serves the proxy on ``--port`` (127.0.0.1). Stops the tracking server
when it exits. The verifier is read from the environment, as the example registry's:
``COGNITO_ISSUER`` (or ``COGNITO_REGION`` + ``COGNITO_USER_POOL_ID``), ``COGNITO_CLIENT_IDS``;
``TRACKER_AUDIENCE`` (default ``tracker``): the audience of the per-resource tokens it accepts;
``TRACKER_ACCEPT_BROAD_TOKENS=true`` also accepts the user's broad token (which then needs the
``tracker/runs.*`` scopes too). Run as a JupyterHub service (``$JUPYTERHUB_API_URL``), it also
refuses the tokens of ended sessions (the Hub's revocation feed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..cognito.verify import CognitoTokenVerifier
from ..net import find_free_port
from ..protocol import CognitoEnv
from ..resource.revocations import RevocationFeed
from .mlflow_proxy import make_app

__all__ = ["main", "make_verifier", "start_tracking_server"]

HOST = "127.0.0.1"


def make_verifier() -> CognitoTokenVerifier:
    """The proxy's verifier, from the environment (see the module's docstring)."""
    issuer = os.environ.get(CognitoEnv.ISSUER) or None
    clients = os.environ.get(CognitoEnv.CLIENT_IDS, "").replace(",", " ").split()
    broad = os.environ.get("TRACKER_ACCEPT_BROAD_TOKENS", "").strip().lower() == "true"
    return CognitoTokenVerifier(
        issuer=issuer,
        region=None if issuer else os.environ.get(CognitoEnv.REGION),
        user_pool_id=None if issuer else os.environ.get(CognitoEnv.USER_POOL_ID),
        client_ids=clients or [os.environ.get(CognitoEnv.CLIENT_ID, "")],
        audience=os.environ.get("TRACKER_AUDIENCE") or "tracker",
        accept_broad_tokens=broad,
        # a Hub service (the local deployment): refuse the tokens of ended sessions at once
        denied_origin_jtis=(
            RevocationFeed.for_hub_service() if os.environ.get("JUPYTERHUB_API_URL") else None
        ),
    )


def start_tracking_server(mlflow: str, state: Path, timeout: float = 120.0) -> tuple[
    subprocess.Popen[bytes], str
]:
    """``mlflow server`` on a free loopback port; (process, its URL) once it answers."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = find_free_port(HOST)
    command = [
        mlflow, "server", "--host", HOST, "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(state / "artifacts"),
        "--default-artifact-root", "mlflow-artifacts:/",
    ]
    log = open(state / "mlflow-server.log", "ab")  # noqa: SIM115 - the child's, kept open
    # its own venv only: nothing of this environment's PYTHONPATH
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited ({process.returncode}); see {state / 'mlflow-server.log'}"
            )
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"mlflow server did not answer within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    """Start the tracking server and serve the proxy in front of it until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the proxy's port (127.0.0.1)")
    parser.add_argument("--mlflow", required=True, help="the mlflow command of its own venv")
    parser.add_argument("--state-dir", type=Path, required=True, help="store and artifacts")
    args = parser.parse_args(argv)
    verifier = make_verifier()
    process, backend = start_tracking_server(args.mlflow, args.state_dir.resolve())

    async def serve() -> None:
        app = make_app(verifier, backend)
        app.listen(args.port, HOST, max_body_size=1 << 30)
        print(f"MLflow tracking proxy on http://{HOST}:{args.port} -> {backend}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(serve())
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main(sys.argv[1:])
