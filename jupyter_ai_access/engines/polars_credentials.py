"""Polars as the person, ending with the session: a credential provider that re-asks every minute.

Polars' own AWS provider takes the kernel's credentials through boto3 and keeps them, in a
process-wide cache and in its Rust object stores, until the expiry the kernel's endpoint
advertises (15 minutes and ``AWSCredentialBroker.recheck_seconds`` ahead, so that botocore
re-asks every ``recheck_seconds``): after a logout a new ``scan_parquet`` reads on until then.
Polars re-asks a provider of its own when the expiry it returned has passed, so this one returns
the kernel endpoint's credentials with an expiry at most ``seconds`` ahead. After the session has
ended the endpoint refuses, and the next Polars query after that expiry fails with the endpoint's
"log in again" message::

    from jupyter_ai_access.engines.polars_credentials import use_for_polars
    use_for_polars()            # every Polars query in this kernel, from now on

Costs one request to the kernel's loopback endpoint per ``seconds`` per process while Polars
reads (the endpoint reuses the server's STS credentials: no AWS call). Polars calls it "unstable"
(``polars.Config.set_default_credential_provider``); an explicit
``credential_provider=KernelCredentialsForPolars()`` per query does the same.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from ..errors import AWSCredentialsError
from ..protocol import expiry_epoch
from .process import CredentialsUnavailable, process_credentials

__all__ = ["KernelCredentialsForPolars", "use_for_polars"]


class KernelCredentialsForPolars:
    """A Polars credential provider: the kernel's AWS credentials, valid for Polars ``seconds``.

    Calling it returns ``(credentials, expiry)`` as Polars expects; raises
    :class:`~jupyter_ai_access.errors.AWSCredentialsError` with the endpoint's reason (the
    session has ended: log in again; not in a kernel; the server has stopped).
    """

    def __init__(self, seconds: float = 60.0, environ: Any = None) -> None:
        if not seconds > 0:
            raise ValueError("seconds must be > 0: how long Polars may keep the credentials")
        self.seconds = float(seconds)
        self.environ = environ
        self.fetches = 0

    def __call__(self) -> tuple[dict[str, str], int]:
        """Ask the kernel's endpoint (each call: Polars calls again only after the expiry)."""
        try:
            answer = process_credentials(self.environ)
        except CredentialsUnavailable as e:
            raise AWSCredentialsError(f"no AWS credentials for Polars: {e}") from None
        self.fetches += 1
        expiry = time.time() + self.seconds
        with contextlib.suppress(ValueError):  # an expiry not in ISO 8601: ours stands
            expiry = min(expiry, expiry_epoch(answer["Expiration"]))
        credentials = {
            "aws_access_key_id": answer["AccessKeyId"],
            "aws_secret_access_key": answer["SecretAccessKey"],
            "aws_session_token": answer["SessionToken"],
        }
        return credentials, int(expiry)


def use_for_polars(seconds: float = 60.0) -> KernelCredentialsForPolars:
    """Make :class:`KernelCredentialsForPolars` Polars' default provider in this process."""
    import polars as pl

    provider = KernelCredentialsForPolars(seconds)
    pl.Config.set_default_credential_provider(provider)
    return provider
