"""Follow the Hub's revocation feed, so a resource refuses a session that ended before ``exp``.

    from jupyter_ai_access.resource import CognitoTokenVerifier
    from jupyter_ai_access.resource.revocations import RevocationFeed

    verifier = CognitoTokenVerifier(..., denied_origin_jtis=RevocationFeed.for_hub_service())

Cognito tokens verify offline until they expire, even after the session that issued them ended
(logout, ``invalid_grant``, removal from the allowed groups). The Hub publishes the
``origin_jti`` of ended sessions at ``GET /hub/api/ai-access/revocations`` (scope
``custom:ai-access:revocations``); this class keeps a copy, refreshed by a daemon thread every
``interval`` seconds (one small request per resource process, whatever the request rate), and
answers ``origin_jti in feed`` from memory, so verification never waits on the network.

The first fetch happens before the constructor returns (bounded by ``timeout``), so a resource
that starts with the Hub (a Hub service, restarted with it) refuses ended sessions from its
first request. Entries are kept until their expiry even when a later answer lacks them (a Hub
restarted without its revocation file), so the copy only ever forgets expired sessions. When the
Hub cannot be reached the last copy keeps serving (and the thread backs off up to
``max_backoff``). A resource that does not follow the feed refuses ended sessions only when their
access tokens expire: keep access-token lifetimes short (5-15 minutes) for such resources.
Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from ..cognito.http import MAX_RESPONSE_BYTES, NoRedirect
from ..cognito.oidc import check_endpoint_url
from ..errors import ConfigurationError, IdentityProviderError
from ..protocol import REVOCATIONS_PATH
from ..retry import Backoff

__all__ = ["RevocationFeed"]

log = logging.getLogger(__name__)
_opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))


class RevocationFeed:
    """A predicate over ``origin_jti`` backed by the Hub's revocation feed."""

    def __init__(
        self,
        url: str,
        api_token: str,
        *,
        interval: float = 5.0,
        timeout: float = 5.0,
        max_backoff: float = 60.0,
        start: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self.url = check_endpoint_url(url, "RevocationFeed url")
        except IdentityProviderError as e:
            raise ConfigurationError(str(e)) from None
        if not api_token:
            raise ConfigurationError(
                "RevocationFeed needs a Hub API token with the scope custom:ai-access:revocations"
            )
        if not 0 < interval < float("inf"):
            raise ConfigurationError(f"RevocationFeed interval must be > 0 seconds ({interval})")
        self._token = api_token
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.fetches = 0
        self.last_success: float | None = None
        self._denied: dict[str, float] = {}
        self._backoff = Backoff(min(interval, max_backoff), max(interval, max_backoff))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    @classmethod
    def for_hub_service(cls, **kwargs: Any) -> RevocationFeed:
        """The feed of the Hub this process runs under (a Hub service: ``$JUPYTERHUB_API_URL``,
        ``$JUPYTERHUB_API_TOKEN``)."""
        api_url = os.environ.get("JUPYTERHUB_API_URL", "")
        if not api_url:
            raise ConfigurationError(
                "RevocationFeed.for_hub_service: $JUPYTERHUB_API_URL is not set "
                "(run this as a JupyterHub service, or pass the URL)"
            )
        url = f"{api_url.rstrip('/')}/{REVOCATIONS_PATH}"
        return cls(url, os.environ.get("JUPYTERHUB_API_TOKEN", ""), **kwargs)

    def __call__(self, origin_jti: str) -> bool:
        """True when ``origin_jti`` belongs to a session that ended (no I/O)."""
        until = self._denied.get(origin_jti)
        return until is not None and until > self.clock() - 60  # a minute of clock skew

    def __contains__(self, origin_jti: object) -> bool:
        return isinstance(origin_jti, str) and self(origin_jti)

    def refresh(self) -> None:
        """Fetch the feed once (blocking); raises on failure, keeping the previous copy."""
        self.fetches += 1
        request = urllib.request.Request(  # noqa: S310 - URL checked: https, or http on loopback
            self.url,
            headers={"Authorization": f"token {self._token}", "Accept": "application/json"},
        )
        with _opener.open(request, timeout=self.timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
        if len(body) > MAX_RESPONSE_BYTES:
            raise ValueError(f"the revocation feed is larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            raise ValueError("the revocation feed is not JSON") from None
        entries = data.get("origin_jti") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise ValueError("the revocation feed is not {'origin_jti': {...}}")
        fresh = {str(k): float(v) for k, v in entries.items() if isinstance(v, (int, float))}
        horizon = self.clock() - 60  # as __call__: a minute of clock skew
        kept = {k: v for k, v in self._denied.items() if v > horizon and k not in fresh}
        self._denied = {**kept, **fresh}
        self.last_success = self.clock()

    def start(self) -> None:
        """Fetch once now, then start the daemon thread that refreshes every ``interval`` s."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            if self.last_success is None:
                try:
                    self.refresh()
                except Exception as e:  # the thread retries with backoff
                    log.warning(
                        "Revocation feed %s unavailable at start (%s)", self.url, type(e).__name__
                    )
            self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (the copy keeps answering)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)
            self._thread = None

    def _run(self) -> None:
        wait = self.interval if self.last_success is not None else 0.0  # fetched at start
        while not self._stop.wait(wait):
            try:
                self.refresh()
                self._backoff.reset()
                wait = self.interval
            except Exception as e:  # any failure: keep the copy, retry later
                wait = self._backoff.failed()
                log.warning(
                    "Revocation feed %s unavailable (%s); retrying in %.0f s",
                    self.url,
                    type(e).__name__,
                    wait,
                )
