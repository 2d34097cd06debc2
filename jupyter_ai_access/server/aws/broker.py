"""AWS credentials for the user's kernels, from the user's own Cognito ID token.

The user's server exchanges the ID token it holds (:class:`~.broker.TokenBroker`) for temporary
AWS credentials — Cognito identity pool enhanced flow or STS ``AssumeRoleWithWebIdentity``, both
unsigned (:mod:`.exchange`) — and serves them to kernels through botocore's own
container-credentials provider (:mod:`.endpoint`), so boto3, the AWS CLI and s3fs need no code.

- one exchange in flight at a time however many kernels ask (:class:`~..retry.SingleFlight`);
- renewed in the background ``renew_before`` seconds ahead of expiry while a kernel that used them
  is alive; failures back off (:class:`~..retry.Backoff`) and still-valid credentials keep being
  served meanwhile;
- the session's end (the broker's listeners) drops them at once; a change of groups too;
- never written to disk, never logged (names and the role ARN only).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from tornado.httpclient import AsyncHTTPClient

from ...errors import (
    AWSCredentialsError,
    AWSUnavailableError,
    NoRoleError,
    TokenDeliveryError,
)
from ...net import POOL_ID
from ...protocol import AWSEnv
from ...retry import Backoff, SingleFlight
from ..broker import TokenBroker, TokenSet
from .exchange import (
    MAX_ANSWER,
    IssuedCredentials,
    assume_role_with_web_identity,
    identity_pool_credentials,
    role_session_name,
    unverified_claims,
)
from .settings import AWSSettings

__all__ = ["AWSCredentialBroker"]


class AWSCredentialBroker(AWSSettings):
    """Exchanges the user's ID token for AWS credentials and keeps them fresh for kernels."""

    def __init__(
        self,
        broker: TokenBroker,
        kernel_alive: Callable[[str], bool] = lambda kernel_id: True,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.broker = broker
        self.kernel_alive = kernel_alive
        self.clock = clock
        self.credentials: IssuedCredentials | None = None
        self.identity: tuple[str, tuple[str, ...]] | None = None  # (username, groups) exchanged
        self.exchanges = 0  # requests to AWS that returned credentials or an error
        self.last_error: AWSCredentialsError | None = None
        self.served: set[str] = set()  # kernels that fetched credentials
        self._failed_at = 0.0
        self._backoff = Backoff(5.0, max(5.0, self.max_backoff))
        self._flight: SingleFlight[IssuedCredentials] = SingleFlight()
        self._http: AsyncHTTPClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        """Whether kernels get AWS credentials."""
        return bool(self.exchange)

    def kernel_env(self, url: str, secret_file: str) -> dict[str, str]:
        """What botocore in a kernel needs: the endpoint, its secret's file and the region."""
        env = {
            AWSEnv.CONTAINER_CREDENTIALS_FULL_URI: url,
            AWSEnv.CONTAINER_AUTHORIZATION_TOKEN_FILE: secret_file,
        }
        if self.region:
            env[AWSEnv.REGION] = env[AWSEnv.DEFAULT_REGION] = self.region
        return env

    # ---------------------------------------------------------------- serving
    async def get(self, kernel_id: str = "") -> IssuedCredentials:
        """Credentials valid for at least ``renew_before`` seconds when AWS can give them."""
        if self.broker.session_ended is not None:
            self.drop()
            raise self.broker.session_ended
        if kernel_id:
            self.served.add(kernel_id)
            self.start()
        held = self.credentials
        if held is not None and held.expires_at - self.clock() > self.renew_before:
            return held
        try:
            return await self._flight.run(self._exchange)
        except AWSUnavailableError:
            if held is not None and held.expires_at - self.clock() > 0 and held is self.credentials:
                return held  # AWS is away: the held credentials are still good
            raise

    async def _exchange(self) -> IssuedCredentials:
        if self.last_error is not None and self.clock() < self._failed_at + self._backoff.delay:
            raise self.last_error  # backing off: no request to AWS for each kernel that asks
        tokens = await self.broker.get(min_valid=60)
        try:
            issued = await self._call(tokens)
        except AWSCredentialsError as e:
            self.exchanges += 1
            self.last_error = e
            self._failed_at = self.clock()
            self._backoff.failed()
            self.log.warning("AWS credentials for %s not renewed: %s", tokens.username, e)
            raise
        self.exchanges += 1
        self.last_error = None
        self._backoff.reset()
        if self.broker.session_ended is None:  # the session may have ended meanwhile
            self.credentials, self.identity = issued, (tokens.username, tokens.groups)
        self.log.info(
            "AWS credentials for %s as %s (valid for %.0f s)",
            tokens.username,
            issued.principal or "(identity pool)",
            issued.expires_at - self.clock(),
        )
        self._wake.set()
        return issued

    def choose_role(self, claims: dict[str, Any]) -> str:
        """The role for these ID token claims: group_roles, then the token's role claims."""
        groups = claims.get("cognito:groups") or []
        for group, arn in self.group_roles.items():
            if group in groups:
                return str(arn)
        if not self.group_roles:
            preferred = claims.get("cognito:preferred_role")
            roles = claims.get("cognito:roles") or []
            if isinstance(preferred, str) and preferred:
                return preferred
            if isinstance(roles, list) and len(roles) == 1:
                return str(roles[0])
        return self.default_role_arn

    async def _call(self, tokens: TokenSet) -> IssuedCredentials:
        if self._http is None:
            self._http = AsyncHTTPClient(force_instance=True, max_body_size=MAX_ANSWER)
        claims = unverified_claims(tokens.id_token)
        role = self.choose_role(claims)
        if self.exchange == "web_identity":
            if not role:
                raise NoRoleError(
                    f"No AWS role for {tokens.username}: none of the groups "
                    f"({', '.join(tokens.groups) or 'none'}) has one in "
                    "AWSCredentialBroker.group_roles and default_role_arn is empty."
                )
            username = str(claims.get("cognito:username") or tokens.username)
            return await assume_role_with_web_identity(
                self._http,
                self.sts_endpoint_url,
                role_arn=role,
                session_name=role_session_name(username),
                id_token=tokens.id_token,
                duration=self.duration_seconds,
                timeout=self.http_timeout,
            )
        provider = self.login_provider
        if not provider:
            pool = str(claims.get("iss", "")).rstrip("/").rsplit("/", 1)[-1]
            if not POOL_ID.match(pool):
                raise NoRoleError("AWSCredentialBroker.user_pool_id is not set")
            provider = f"cognito-idp.{self.region}.amazonaws.com/{pool}"
        return await identity_pool_credentials(
            self._http,
            self.cognito_identity_endpoint_url,
            identity_pool_id=self.identity_pool_id,
            login_provider=provider,
            id_token=tokens.id_token,
            custom_role_arn=self.custom_role_arn or role,
            timeout=self.http_timeout,
        )

    # ---------------------------------------------------------------- session changes
    def on_tokens(self, tokens: TokenSet | None) -> None:
        """Broker listener: the session ended (drop) or the groups changed (exchange anew)."""
        if tokens is None:
            self.drop()
        elif self.identity is not None and self.identity != (tokens.username, tokens.groups):
            self.log.info("Groups of %s changed: AWS credentials dropped", tokens.username)
            self.drop()

    def drop(self) -> None:
        """Forget the held credentials (they stay valid at AWS until they expire)."""
        if self.credentials is not None:
            self.log.info("AWS credentials of %s dropped", self.broker.source.user or "the user")
        self.credentials = self.identity = None
        self.served.clear()

    # ---------------------------------------------------------------- background renewal
    def start(self) -> None:
        """Renew in the background while a kernel that used the credentials is alive."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._renew_forever())

    async def stop(self) -> None:
        """Stop renewing; forget the credentials."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            self._http.close()
            self._http = None
        self.drop()

    async def _renew_forever(self) -> None:
        while True:
            self.served = {k for k in self.served if self.kernel_alive(k)}
            held = self.credentials
            if not self.served:
                return  # nobody uses them: the next kernel that asks starts us again
            if held is None:
                delay = self._backoff.delay if self.last_error else self.max_backoff
            else:
                delay = held.expires_at - self.renew_before - self.clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue
            with contextlib.suppress(TokenDeliveryError):
                await self.get()
            if self.credentials is held:  # nothing new (failure): wait before trying again
                await asyncio.sleep(max(self._backoff.delay, 1.0))
