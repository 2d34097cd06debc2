"""The kernel's AWS config file: a profile whose ``credential_process`` is our command.

For SDKs whose default chain gets no credentials from the container provider here but that read
AWS profiles (s3torchconnector's CRT client; docs/how-to/data-engines.md has the table): the
provisioner writes, in the kernel's token folder, a config file holding one profile,
:data:`PROFILE`, with ``credential_process`` naming ``jupyter-ai-access aws-credentials`` (run by
this Python, whatever the PATH) and the region. No secret is in it. It is handed to the kernel
as ``$AWS_CONFIG_FILE``; botocore's default chain is unchanged (the profile is not ``default``:
botocore keeps the container provider), and an engine chooses the profile by name (``profile=``
/ ``AWS_PROFILE`` for that engine only).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = ["CONFIG_ENV", "PROFILE", "config_text", "has_own_config", "write_config"]

PROFILE = "jupyter-ai-access"
CONFIG_ENV = "AWS_CONFIG_FILE"
FILE_NAME = "aws-config"


def config_text(region: str = "", python: str = sys.executable) -> str:
    """The config file's text (no secret: a command and a region)."""
    command = f"{shlex.quote(python)} -m jupyter_ai_access.cli aws-credentials"
    lines = [f"[profile {PROFILE}]", f"credential_process = {command}"]
    if region:
        lines.append(f"region = {region}")
    return "\n".join(lines) + "\n"


def has_own_config(env: dict[str, str]) -> bool:
    """Whether the kernel would read an AWS config of the person's own: ``$AWS_CONFIG_FILE`` set,
    or ``~/.aws/config`` in its home. Ours would hide it (botocore reads one config file), so
    then none is written: the person adds the profile to theirs (docs/how-to/data-engines.md).
    Runs in the user's server, as the user."""
    if env.get(CONFIG_ENV):
        return True
    home = env.get("HOME") or str(Path.home())
    return (Path(home) / ".aws" / "config").exists()


def write_config(folder: Path, region: str = "") -> dict[str, str]:
    """Write the config file in the kernel's (0700, server-owned) folder; the env to add."""
    path = folder / FILE_NAME
    path.write_text(config_text(region), encoding="utf-8")
    return {CONFIG_ENV: str(path)}
