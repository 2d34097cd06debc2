"""A standalone server's kernel, running as the server's own OS account, cannot take its secrets.

The attack of the hardening issue, replayed: a real ``jupyter lab`` in standalone mode (the
emulator is the IdP), started as a non-root account with ``COGNITO_CLIENT_SECRET_FILE``, and a real
kernel of it that looks for the app client's secret in its own environment, in the server's
``/proc/<ppid>/environ`` and in the server's memory (``/proc/<ppid>/maps`` + ``mem``). Root could
read all of this anyway (``CAP_SYS_PTRACE``), so the server runs as a fresh system account.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.lab import LabProcess
from jupyter_ai_access_testing.harness.notebooks import ServerKernel

LAB_CLIENT = "labclient00000000000000000"
ACTOR_SECRET = f"actor-secret-{secrets.token_urlsafe(16)}"

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(
        os.geteuid() != 0 or not os.path.exists("/proc/self/environ"),
        reason="needs Linux and root (to run the server as another, unprivileged account)",
    ),
]


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[str, int, int]]:
    name = f"jt{secrets.token_hex(3)}-sa"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        import pwd

        entry = pwd.getpwnam(name)
        yield name, entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def same_account_lab(account, local_cognito, leak_watcher, canaries) -> Iterator[LabProcess]:
    name, uid, gid = account
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    secret = local_cognito.client_secrets[LAB_CLIENT]
    secret_file = folder / "cognito-secret"
    secret_file.write_text(secret, encoding="utf-8")
    canaries.register(ACTOR_SECRET, "the actor client's secret")
    server = LabProcess(
        folder,
        {
            "COGNITO_ISSUER": local_cognito.issuer,
            "COGNITO_DOMAIN": local_cognito.domain,
            "COGNITO_CLIENT_ID": LAB_CLIENT,
            "COGNITO_CLIENT_SECRET_FILE": str(secret_file),
            # an actor client's secret in the server's environment (a deployment that sets it
            # for every process) is kept from kernels like the app client's
            "COGNITO_ACTOR_CLIENT_SECRET": ACTOR_SECRET,
            "HOME": str(folder),
            "IPYTHONDIR": str(folder / "ipython"),
        },
        prefix=["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"],
    )
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, gid)
    secret_file.chmod(0o600)
    leak_watcher.watch_file(server.log_file)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


# Runs in the kernel; prints only names and booleans (kernel outputs are leak-checked).
ATTACK = """
import json, os
secret = {secret!r}
needle = secret.encode()
server = os.getppid()
found = {{"uid": os.getuid()}}
found["own_env"] = sorted(k for k, v in os.environ.items()
                          if k.startswith(("COGNITO_CLIENT_SECRET", "COGNITO_ACTOR_CLIENT_SECRET"))
                          or secret in v or {actor!r} in v)
try:
    environ = open(f"/proc/{{server}}/environ", "rb").read()
    found["server_environ"] = needle in environ or b"COGNITO_CLIENT_SECRET" in environ
except OSError as e:
    found["server_environ"] = type(e).__name__
try:
    with open(f"/proc/{{server}}/maps") as maps, open(f"/proc/{{server}}/mem", "rb", 0) as mem:
        hit = False
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                hit = hit or needle in mem.read(end - start)
            except OSError:
                pass
        found["server_mem"] = hit
except OSError as e:
    found["server_mem"] = type(e).__name__
print(json.dumps(found))
"""


async def test_a_same_account_kernel_finds_no_secret_in_its_env_or_the_servers_proc(
    same_account_lab, account, local_cognito
):
    _, uid, _ = account
    secret = local_cognito.client_secrets[LAB_CLIENT]
    kernel = await ServerKernel(same_account_lab.url + "/", token=same_account_lab.token).start()
    try:
        out = await kernel.execute(ATTACK.format(secret=secret, actor=ACTOR_SECRET))
        assert out["error"] is None, out
        found: dict[str, Any] = json.loads(out["stdout"])
    finally:
        await kernel.shutdown()
    assert found == {
        "uid": uid,  # the kernel really is the server's account, not root
        "own_env": [],  # neither secret, nor COGNITO_CLIENT_SECRET_FILE
        "server_environ": "PermissionError",  # the strings the server started with
        "server_mem": "PermissionError",  # the secret (and, once signed in, the refresh token)
    }
    assert "This server is non-dumpable" in same_account_lab.log_tail()
