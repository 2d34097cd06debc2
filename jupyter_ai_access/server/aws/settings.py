"""The settings of the AWS credential exchange: traitlets with defaults from the environment.

Configured as ``c.AWSCredentialBroker.<name>`` (the broker in :mod:`.broker` subclasses this). Every
refusal names the setting and the value, e.g. ``AWSCredentialBroker.region = 'mars-1': ...``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

from traitlets import Dict, Enum, Float, Int, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ...errors import ConfigurationError
from ...net import POOL_ID, is_loopback
from ...protocol import AWSEnv, CognitoEnv

__all__ = ["BOTOCORE_ADVISORY", "AWSSettings"]

_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_IDENTITY_POOL = re.compile(r"^[\w-]+:[0-9a-f-]+$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
#: botocore refreshes container credentials 15 min before expiry (advisory), blocks at 10 min
BOTOCORE_ADVISORY = 15 * 60


def _env(*names: str) -> str:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return ""


class AWSSettings(LoggingConfigurable):
    """The settings of :class:`~.aws.AWSCredentialBroker` (configure them under that name)."""

    exchange = Enum(
        ["", "identity_pool", "web_identity"],
        "",
        config=True,
        help="""How the ID token becomes AWS credentials: "identity_pool" (Cognito identity pool,
        enhanced flow: GetId + GetCredentialsForIdentity; Cognito enforces which roles a user's
        groups allow), "web_identity" (STS AssumeRoleWithWebIdentity against an IAM OIDC
        provider for the user pool, the role picked here from group_roles) or "" (off: kernels
        get no AWS variables). Default: $JUPYTER_AI_ACCESS_AWS_EXCHANGE, else "".""",
    )
    region = Unicode(
        config=True,
        help="""AWS region of the exchange, also given to kernels as AWS_REGION and
        AWS_DEFAULT_REGION. Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else the region of
        user_pool_id or identity_pool_id.""",
    )
    user_pool_id = Unicode(
        config=True,
        help="""The Cognito user pool id (<region>_<id>) whose ID tokens are exchanged. Default:
        $COGNITO_USER_POOL_ID, else the last path segment of $COGNITO_ISSUER, else that of the
        ID token's own issuer (so the emulator's http://127.0.0.1:<port>/<pool id> works).""",
    )
    login_provider = Unicode(
        config=True,
        help="""identity_pool: the key of the Logins map, the user pool as the identity pool knows
        it. Default: cognito-idp.<region>.amazonaws.com/<user_pool_id>.""",
    )
    identity_pool_id = Unicode(
        config=True,
        help="""identity_pool: the identity pool id (<region>:<uuid>). Default:
        $AWS_COGNITO_IDENTITY_POOL_ID.""",
    )
    custom_role_arn = Unicode(
        config=True,
        help="""identity_pool: the CustomRoleArn to ask for (Cognito grants it only when the
        token's cognito:roles hold it). Default: "" (the role from group_roles when one matches,
        else the pool's role mapping decides).""",
    )
    group_roles = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""Cognito group -> IAM role ARN. The first group of this mapping (in its order)
        that the user belongs to picks the role. When empty, the ID token's
        cognito:preferred_role (or its single cognito:roles entry) is used. Default:
        $JUPYTER_AI_ACCESS_AWS_GROUP_ROLES (a JSON object, so a Hub can set it through
        Spawner.environment), else {}.""",
    )
    default_role_arn = Unicode(
        config=True,
        help="""web_identity: the role for users none of whose groups has one. Default: "" (such
        users get no AWS credentials and a message saying so).""",
    )
    duration_seconds = Int(
        3600,
        config=True,
        help="""web_identity: DurationSeconds asked of STS (s), between 900 and the role's
        maximum session duration. Identity pools always issue one hour. Keep it above
        renew_before + 600 so that kernels refetch once per renewal. Default: 3600.""",
    )
    renew_before = Float(
        1200.0,
        config=True,
        help="""Exchange again when the held credentials expire within this many seconds, and
        never hand out credentials with less left. botocore in kernels refreshes 900 s before
        expiry (advisory) and blocks at 600 s: above 900 each kernel refetches once per renewal.
        Default: 1200.""",
    )
    recheck_seconds = Float(
        50.0,
        config=True,
        help="""How often (s) a running process re-asks the endpoint whether the session still
        holds, so that AWS calls stop that long after logout. The endpoint tells kernels an expiry
        of 900 s (botocore's advisory refresh window) plus this many seconds ahead, never later
        than the real one: botocore then fetches again after this many seconds, and the
        endpoint answers from the credentials it holds (no request to AWS). About 3600 /
        recheck_seconds requests per hour per process that keeps calling AWS. 0: tell the real
        expiry (botocore then asks again only 15 minutes before it, and a kernel keeps using AWS
        that long after logout). Default: 50 (a process calling AWS at least every 10 s fails
        within a minute of logout; about 72 requests an hour).""",
    )
    sts_endpoint_url = Unicode(
        config=True,
        help="""web_identity: the STS endpoint. Default: $AWS_ENDPOINT_URL_STS, else
        $AWS_ENDPOINT_URL, else https://sts.<region>.amazonaws.com. http:// only on loopback
        (an emulator such as moto).""",
    )
    cognito_identity_endpoint_url = Unicode(
        config=True,
        help="""identity_pool: the Cognito identity endpoint. Default:
        $AWS_ENDPOINT_URL_COGNITO_IDENTITY, else $AWS_ENDPOINT_URL, else
        https://cognito-identity.<region>.amazonaws.com. http:// only on loopback.""",
    )
    http_timeout = Float(10.0, config=True, help="Timeout of each request to AWS (s). Default: 10.")
    max_backoff = Float(
        300.0,
        config=True,
        help="""Longest wait (s) between exchanges after failures (the first wait is 5 s, then it
        doubles); kernels asking meanwhile get the last error at once instead of another request
        to AWS. Default: 300.""",
    )

    @default("exchange")
    def _exchange_default(self) -> str:
        return _env(AWSEnv.EXCHANGE)

    @default("group_roles")
    def _group_roles_default(self) -> dict[str, str]:
        text = _env(AWSEnv.GROUP_ROLES)
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise self._fail("group_roles", text, f"${AWSEnv.GROUP_ROLES} is no object")
        return {str(k): str(v) for k, v in value.items()}

    @default("region")
    def _region_default(self) -> str:
        found = _env(AWSEnv.REGION, AWSEnv.DEFAULT_REGION)
        if found:
            return found
        match = POOL_ID.match(self.user_pool_id)
        if match:
            return match.group("region")
        return self.identity_pool_id.partition(":")[0] if ":" in self.identity_pool_id else ""

    @default("user_pool_id")
    def _user_pool_id_default(self) -> str:
        issuer = _env(CognitoEnv.ISSUER).rstrip("/")
        return _env(CognitoEnv.USER_POOL_ID) or (issuer.rsplit("/", 1)[-1] if issuer else "")

    @default("login_provider")
    def _login_provider_default(self) -> str:
        if not self.user_pool_id:
            return ""
        return f"cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @default("identity_pool_id")
    def _identity_pool_id_default(self) -> str:
        return _env(AWSEnv.IDENTITY_POOL_ID)

    @default("sts_endpoint_url")
    def _sts_default(self) -> str:
        return _env(AWSEnv.ENDPOINT_URL_STS, AWSEnv.ENDPOINT_URL) or (
            f"https://sts.{self.region}.amazonaws.com" if self.region else ""
        )

    @default("cognito_identity_endpoint_url")
    def _cognito_identity_default(self) -> str:
        return _env(AWSEnv.ENDPOINT_URL_COGNITO_IDENTITY, AWSEnv.ENDPOINT_URL) or (
            f"https://cognito-identity.{self.region}.amazonaws.com" if self.region else ""
        )

    def _fail(self, trait: str, value: Any, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.__class__.__name__}.{trait} = {value!r}: {problem}")

    @validate("region")
    def _check_region(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not _REGION.match(value):
            raise self._fail("region", value, "not an AWS region name such as 'eu-west-1'")
        return value

    @validate("user_pool_id")
    def _check_pool(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not POOL_ID.match(value):
            raise self._fail("user_pool_id", value, "must look like 'eu-west-1_AbC123xyz'")
        return value

    @validate("identity_pool_id")
    def _check_identity_pool(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not _IDENTITY_POOL.match(value):
            raise self._fail("identity_pool_id", value, "must look like 'eu-west-1:<uuid>'")
        return value

    @validate("custom_role_arn", "default_role_arn")
    def _check_role(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and not _ROLE_ARN.match(value):
            raise self._fail(proposal["trait"].name, value, "not an IAM role ARN")
        return value

    @validate("group_roles")
    def _check_group_roles(self, proposal: Any) -> dict[str, str]:
        value = dict(proposal["value"])
        for group, arn in value.items():
            if not _ROLE_ARN.match(arn):
                raise self._fail("group_roles", {group: arn}, "not an IAM role ARN")
        return value

    @validate("duration_seconds")
    def _check_duration(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if not 60 <= value <= 43200:
            raise self._fail("duration_seconds", value, "STS accepts 900 to 43200 seconds")
        return value

    @validate("recheck_seconds")
    def _check_recheck(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 <= value <= 3600:
            raise self._fail("recheck_seconds", value, "must be between 0 and 3600 seconds")
        return value

    @validate("sts_endpoint_url", "cognito_identity_endpoint_url")
    def _check_endpoint(self, proposal: Any) -> str:
        value = str(proposal["value"]).rstrip("/")
        parts = urlsplit(value)
        if value and not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
        ):
            raise self._fail(
                proposal["trait"].name, value, "must be https:// (http:// only on loopback)"
            )
        return value

    def check(self) -> None:
        """Refuse a configuration that cannot work, naming the setting (called at start)."""
        if not self.exchange:
            return
        # defaults from the environment are computed (and refused) now, not at a kernel's request
        for name in ("group_roles", "sts_endpoint_url", "cognito_identity_endpoint_url"):
            getattr(self, name)
        if not self.region:
            raise self._fail("region", "", "needed (or AWS_REGION, or user_pool_id)")
        if self.exchange == "identity_pool" and not self.identity_pool_id:
            raise self._fail("identity_pool_id", "", 'needed with exchange = "identity_pool"')
        official = self.sts_endpoint_url.endswith(".amazonaws.com")
        if self.exchange == "web_identity" and self.duration_seconds < 900 and official:
            raise self._fail("duration_seconds", self.duration_seconds, "STS refuses below 900")
        if self.renew_before >= self.duration_seconds and self.exchange == "web_identity":
            raise self._fail("renew_before", self.renew_before, "must be below duration_seconds")
        if self.renew_before < BOTOCORE_ADVISORY:
            self.log.warning(
                "AWSCredentialBroker.renew_before = %s is below botocore's 900 s refresh window:"
                " kernels will refetch credentials on every AWS call near expiry",
                self.renew_before,
            )
