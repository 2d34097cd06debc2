"""The MLflow tracking server's own environment, made on first use from its constraints file.

Full MLflow (the server) pins packages the main environment must keep newer (pyarrow for the
engines), so it lives in ``<checkout>/.venv/mlflow-server``, installed with
``constraints-mlflow-server.txt`` (exact pins). It is remade when that file changes (a stamp
holds the file's SHA-256). Kernels need only the client (``mlflow-skinny``, the ``mlflow``
extra, in the main environment).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["CONSTRAINTS", "ensure_server_venv"]

CHECKOUT = Path(__file__).resolve().parents[2]
#: the exact pins of the server's environment
CONSTRAINTS = CHECKOUT / "constraints-mlflow-server.txt"


def _pinned_mlflow(constraints: Path) -> str:
    for line in constraints.read_text().splitlines():
        if line.startswith("mlflow=="):
            return line.strip()
    raise RuntimeError(f"{constraints} pins no mlflow==<version>")


def ensure_server_venv(venv: Path | None = None, constraints: Path = CONSTRAINTS) -> Path:
    """The ``mlflow`` command of the server's venv, made (or remade) when needed."""
    venv = venv or CHECKOUT / ".venv" / "mlflow-server"
    digest = hashlib.sha256(constraints.read_bytes()).hexdigest()
    stamp = venv / ".jaia-constraints-sha256"
    mlflow = venv / "bin" / "mlflow"
    if mlflow.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return mlflow
    # nothing of this environment's PYTHONPATH: pip would take its packages as installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, env=env)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "-c", str(constraints), _pinned_mlflow(constraints)],
        check=True, env=env,
    )
    stamp.write_text(digest + "\n")
    return mlflow


if __name__ == "__main__":
    print(ensure_server_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
