"""What the standalone server does to its own process so that its kernels cannot take its secrets.

In standalone mode the server holds the app client's secret and the user's refresh token, and its
kernels run arbitrary code as the *same* OS account. Two ways out existed:

- **the environment**: kernels and terminals inherit ``os.environ``, so ``$COGNITO_CLIENT_SECRET``
  and ``$COGNITO_CLIENT_SECRET_FILE`` (and the actor client's ``$COGNITO_ACTOR_CLIENT_SECRET``
  and ``_FILE``, should they be set) must be gone from it once read
  (:func:`scrub_secret_environment`; the provisioner also drops :data:`SECRET_ENV` from every
  kernel's environment);
- **/proc**: ``os.environ.pop`` does not change ``/proc/<pid>/environ`` (the strings the process
  started with), and ``/proc/<pid>/mem`` holds the refresh token. Any process of the same account
  may read both while the server is *dumpable*. :func:`make_non_dumpable` calls
  ``prctl(PR_SET_DUMPABLE, 0)`` (Linux): ``/proc/<pid>/{environ,mem,maps}`` then belong to root
  and only a process with ``CAP_SYS_PTRACE`` may open them, ``ptrace`` attach is refused and no
  core dump is written. The flag is not inherited across ``execve``: kernels start dumpable again,
  which is harmless, they hold no long-lived secret.

What a same-account kernel can still do is in docs/how-to/without-a-hub.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import MutableMapping

from ...protocol import CognitoEnv

__all__ = ["SECRET_ENV", "make_non_dumpable", "scrub_secret_environment"]

#: Variables that carry an app client's secret or say where it is: never handed to a kernel
#: (the Hub's actor client, which token exchanges name in ``act``, as well as the sign-in's).
SECRET_ENV = (
    CognitoEnv.CLIENT_SECRET,
    CognitoEnv.CLIENT_SECRET_FILE,
    CognitoEnv.ACTOR_CLIENT_SECRET,
    CognitoEnv.ACTOR_CLIENT_SECRET_FILE,
)

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def make_non_dumpable() -> bool:
    """Make this process non-dumpable (Linux); return whether it now is.

    Elsewhere (macOS, Windows) there is no ``/proc`` to protect and nothing is done (False).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return False
    return bool(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)


def scrub_secret_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove :data:`SECRET_ENV` from ``environ`` (``os.environ``); return the names removed."""
    env = os.environ if environ is None else environ
    return [name for name in SECRET_ENV if env.pop(name, None) is not None]
