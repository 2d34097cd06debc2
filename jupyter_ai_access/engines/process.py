"""``jupyter-ai-access aws-credentials``: AWS process credentials for the kernel's person.

An AWS config profile with ``credential_process = jupyter-ai-access aws-credentials`` gives any
AWS SDK the same short-lived credentials botocore's container provider gets: the command asks
the kernel's endpoint (``$AWS_CONTAINER_CREDENTIALS_FULL_URI``, with the secret read from
``$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``, both set by the server for each kernel) and prints
the process-credentials JSON (``Version`` 1, ``Expiration``) that SDKs cache until near expiry
and then run the command again. Nothing is written to disk. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from traitlets.config import Application

from .._version import __version__
from ..net import is_loopback
from ..protocol import AWSEnv

__all__ = ["AWSCredentialsApp", "process_credentials"]

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class CredentialsUnavailable(Exception):
    """No credentials: the message says why and what to do."""


def process_credentials(environ: Any = None, timeout: float = 15.0) -> dict[str, Any]:
    """The process-credentials object from the kernel's endpoint (raise with the reason)."""
    env = os.environ if environ is None else environ
    url = env.get(AWSEnv.CONTAINER_CREDENTIALS_FULL_URI, "")
    secret_file = env.get(AWSEnv.CONTAINER_AUTHORIZATION_TOKEN_FILE, "")
    if not url or not secret_file:
        raise CredentialsUnavailable(
            f"${AWSEnv.CONTAINER_CREDENTIALS_FULL_URI} and "
            f"${AWSEnv.CONTAINER_AUTHORIZATION_TOKEN_FILE} are not set: run this in a kernel or"
            " terminal of a Jupyter server with jupyter_ai_access and AWS credentials on"
            " (AWSCredentialBroker.exchange)"
        )
    host = urllib.parse.urlsplit(url).hostname
    if not is_loopback(host):
        raise CredentialsUnavailable(f"{url} is not on loopback: refusing to send the secret")
    try:
        with open(secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    except OSError as e:
        raise CredentialsUnavailable(
            f"cannot read {secret_file} ({type(e).__name__}): the kernel has ended"
        ) from None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise CredentialsUnavailable(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Authorization": secret})  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read())
            message = detail.get("message") or detail.get("error") or ""
        except ValueError:
            message = ""
        raise CredentialsUnavailable(
            f"the credentials endpoint answered {e.code}: {message}"
        ) from None
    except (OSError, ValueError) as e:
        raise CredentialsUnavailable(
            f"the Jupyter server's credentials endpoint cannot be reached ({type(e).__name__}):"
            " is the server still running?"
        ) from None
    if not isinstance(body, dict) or body.get("error") or not body.get("AccessKeyId"):
        # the session has ended (200 with the message where botocore reads the expiry)
        reason = body.get("message") or body.get("error") if isinstance(body, dict) else None
        raise CredentialsUnavailable(str(reason or "the credentials endpoint gave no credentials"))
    return {
        "Version": 1,
        "AccessKeyId": body["AccessKeyId"],
        "SecretAccessKey": body["SecretAccessKey"],
        "SessionToken": body["Token"],
        "Expiration": body["Expiration"],
    }


class AWSCredentialsApp(Application):
    """Print AWS process credentials (JSON) for ``credential_process`` in an AWS profile."""

    name = "jupyter-ai-access-aws-credentials"
    description = (
        "Print the kernel's AWS credentials as AWS process-credentials JSON (Version 1, with "
        "Expiration), for `credential_process = jupyter-ai-access aws-credentials` in an AWS "
        "config profile. Exits with status 1 and says why when there are none."
    )
    version = __version__

    def start(self) -> None:
        """Print the JSON, or the reason there is none on stderr."""
        try:
            print(json.dumps(process_credentials()))
        except CredentialsUnavailable as e:
            print(f"jupyter-ai-access aws-credentials: {e}", file=sys.stderr)
            self.exit(1)
