"""Every name of moto that ``local_aws/_compat.py`` touches still exists and still works.

An upgrade of moto that renames or changes one fails here, by name, rather than as a refused
request in a kernel. The bound on moto in ``pyproject.toml``'s ``demo`` extra and the pin in
``constraints.txt`` are the version these tests ran against (``_compat.MOTO_CHECKED``); widen them
only with this file green. End to end, ``tests/test_local_aws.py`` runs the emulator itself.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

moto = pytest.importorskip("moto", reason="the demo extra (moto) is not installed")
boto3 = pytest.importorskip("boto3", reason="the demo extra (boto3) is not installed")

from moto import settings  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.core.responses import BaseResponse  # noqa: E402
from moto.iam import access_control  # noqa: E402

from jupyter_ai_access.local_aws import _compat  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def test_the_installed_moto_is_the_one_the_fence_was_checked_on():
    assert _minor(moto.__version__) == _minor(_compat.MOTO_CHECKED), moto.__version__


def test_the_version_bounds_match_the_checked_version():
    pinned = re.search(r"^moto==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == _compat.MOTO_CHECKED
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in project["optional-dependencies"]["demo"] if d.startswith("moto")]
    major, minor = _minor(_compat.MOTO_CHECKED)
    assert f">={major}.{minor}" in spec and f"<{major}.{minor + 1}" in spec, spec


def test_the_private_authorizer_keeps_its_name_and_signature():
    method = ActionAuthenticatorMixin._authenticate_and_authorize_action
    parameters = inspect.signature(method).parameters
    assert list(parameters) == ["self", "iam_request_cls", "resource"]
    assert parameters["resource"].default == "*"
    # every moto response checks through it (the wrapper is installed on the mixin)
    assert issubclass(BaseResponse, ActionAuthenticatorMixin)
    assert callable(BaseResponse._get_action)
    source = inspect.getsource(method)
    # enforcement starts when request_count reaches INITIAL_NO_AUTH_ACTION_COUNT; unsigned
    # JSON-protocol targets are skipped by PUBLIC_OPERATIONS
    assert "ActionAuthenticatorMixin.request_count" in source
    assert "settings.INITIAL_NO_AUTH_ACTION_COUNT" in source
    assert "ActionAuthenticatorMixin.PUBLIC_OPERATIONS" in source
    assert isinstance(ActionAuthenticatorMixin.PUBLIC_OPERATIONS, list)
    assert isinstance(ActionAuthenticatorMixin.request_count, int)
    assert hasattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT")


@pytest.fixture
def restored() -> Iterator[None]:
    """moto's mixin and access_control as they were (the fence changes them process-wide)."""
    method = ActionAuthenticatorMixin.__dict__["_authenticate_and_authorize_action"]
    public = list(ActionAuthenticatorMixin.PUBLIC_OPERATIONS)
    s3_request = access_control.S3IAMRequest
    count, initial = ActionAuthenticatorMixin.request_count, settings.INITIAL_NO_AUTH_ACTION_COUNT
    yield
    ActionAuthenticatorMixin._authenticate_and_authorize_action = method  # type: ignore[method-assign]
    ActionAuthenticatorMixin.PUBLIC_OPERATIONS[:] = public
    access_control.S3IAMRequest = s3_request  # type: ignore[misc]
    ActionAuthenticatorMixin.request_count, settings.INITIAL_NO_AUTH_ACTION_COUNT = count, initial


@pytest.fixture
def aws(monkeypatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


class _Request:
    """What moto's authorizer reads of a response object."""

    def __init__(self, action: str, headers: dict[str, str]) -> None:
        self.action, self.headers = action, headers
        self.uri, self.raw_path, self.method = "http://sts/?x=1", "/", "POST"
        self.current_account, self.data, self.raw_body = _compat.ACCOUNT, {}, b""

    def _get_action(self) -> str:
        return self.action


class _Refusing:
    def __init__(self, **kwargs: object) -> None:
        raise PermissionError(kwargs["action"])


def test_unsigned_operations_pass_and_signed_ones_are_still_checked(restored):
    _compat.exempt_unsigned_operations({"AssumeRoleWithWebIdentity"}, ["Svc.Target"])
    assert "Svc.Target" in ActionAuthenticatorMixin.PUBLIC_OPERATIONS
    _compat.enforce_iam()
    check = ActionAuthenticatorMixin._authenticate_and_authorize_action
    check(_Request("AssumeRoleWithWebIdentity", {}), _Refusing)  # type: ignore[arg-type]
    signed = _Request("AssumeRoleWithWebIdentity", {"Authorization": "AWS4-HMAC-SHA256 x"})
    with pytest.raises(PermissionError, match="AssumeRoleWithWebIdentity"):
        check(signed, _Refusing)  # type: ignore[arg-type]
    with pytest.raises(PermissionError, match="AssumeRole"):
        check(_Request("AssumeRole", {}), _Refusing)  # type: ignore[arg-type]


def test_s3_requests_are_checked_under_the_iam_action(restored, aws):
    # moto imports S3IAMRequest from the module at each check, so replacing it there takes effect
    source = inspect.getsource(ActionAuthenticatorMixin._authenticate_and_authorize_s3_action)
    assert "from moto.iam.access_control import S3IAMRequest" in source
    _compat.authorize_s3_operations_as({"HeadObject": "GetObject"})
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]["AccessKeyId"]
    credential = f"Credential={key}/20250101/{REGION}/s3/aws4_request"
    headers = {"Authorization": f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host, Signature=0"}
    args = {"account_id": _compat.ACCOUNT, "method": "HEAD", "path": "/b/k", "data": {}}
    request = access_control.S3IAMRequest(**args, body=b"", headers=headers, action="HeadObject")
    assert request._action == "s3:GetObject"
    other = access_control.S3IAMRequest(**args, body=b"", headers=headers, action="GetObject")
    assert other._action == "s3:GetObject"


def test_an_identity_pool_gets_the_fixed_id(aws):
    client = boto3.client("cognito-identity", region_name=REGION)
    created = client.create_identity_pool(
        IdentityPoolName="p", AllowUnauthenticatedIdentities=False
    )["IdentityPoolId"]
    fixed = f"{REGION}:00000000-0000-4000-8000-000000000000"
    _compat.rename_identity_pool(REGION, created, fixed)
    assert client.describe_identity_pool(IdentityPoolId=fixed)["IdentityPoolName"] == "p"
    assert [
        p["IdentityPoolId"] for p in client.list_identity_pools(MaxResults=10)["IdentityPools"]
    ] == [fixed]


def test_a_role_is_issued_credentials_and_its_trust_is_read(aws):
    trust = {"Version": "2012-10-17", "Statement": []}
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert _compat.trust_of(arn) == trust
    assert _compat.trust_of(arn + "-missing") is None
    issued = _compat.role_issuer(REGION)(arn, "alice", 900)
    assert issued.access_key_id and issued.secret_access_key and issued.session_token
    assert issued.expiration is not None
    sts = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=issued.access_key_id,
        aws_secret_access_key=issued.secret_access_key,
        aws_session_token=issued.session_token,
    )
    assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/r/alice")


def test_the_server_app_is_moto_s_dispatcher():
    assert callable(_compat.server_app())
