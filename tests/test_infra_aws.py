"""AWS credentials from a login, provisioned (``infra/identity_pool.py``) under Pulumi's mocks."""

from __future__ import annotations

import copy
import json

import pytest
from jupyter_ai_access_testing.harness.infra import DEMO, client, install_mocks, of_type, provision

from jupyter_ai_access.errors import PoolDescriptionError
from jupyter_ai_access.pooldesc import validate_pool
from jupyter_ai_access.pooldesc.access import aws_access

ENDPOINT = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
IDENTITY_POOL = "eu-west-1:11111111-2222-3333-4444-555555555555"
PREFIX = "jupyter-ai-access-demo"


@pytest.fixture
def mocks():
    return install_mocks()


@pytest.fixture
def provisioned(mocks):
    return provision(mocks)


def by_name(resources: list, typ: str) -> dict[str, dict]:
    return {r.name: r.inputs for r in of_type(resources, typ)}


def test_identity_pool_trusts_the_hub_client_of_this_user_pool_only(provisioned):
    exports, resources = provisioned
    (pool,) = of_type(resources, "aws:cognito/identityPool:IdentityPool")
    assert pool.inputs["allowUnauthenticatedIdentities"] is False
    assert pool.inputs["allowClassicFlow"] is False
    assert pool.inputs["cognitoIdentityProviders"] == [
        {
            "clientId": "id-client-jupyterhub",
            "providerName": ENDPOINT,
            "serverSideTokenCheck": True,
        }
    ]
    assert exports["AWS_COGNITO_IDENTITY_POOL_ID"] == IDENTITY_POOL
    assert exports["AWS_S3_BUCKET"] == PREFIX


def test_one_role_per_group_trusting_the_identity_pool_and_signed_in_users(provisioned):
    _, resources = provisioned
    roles = by_name(resources, "aws:iam/role:Role")
    assert set(roles) == {"role-ml-publishers", "role-ml-training", "role-no-access"}
    for inputs in roles.values():
        (statement,) = json.loads(inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
        assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
        assert statement["Condition"] == {
            "StringEquals": {"cognito-identity.amazonaws.com:aud": IDENTITY_POOL},
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
        }
    assert roles["role-ml-training"]["name"] == f"{PREFIX}-ml-training"
    policies = by_name(resources, "aws:iam/rolePolicy:RolePolicy")
    assert set(policies) == {"role-ml-publishers-s3", "role-ml-training-s3"}  # no-access: none


def test_groups_carry_their_role_and_the_pool_maps_roles_from_the_token(provisioned):
    _, resources = provisioned
    groups = {
        r.inputs["name"]: r.inputs for r in of_type(resources, "aws:cognito/userGroup:UserGroup")
    }
    assert (
        groups["ml-training"]["roleArn"] == f"arn:aws:iam::123456789012:role/{PREFIX}-ml-training"
    )
    assert groups["ml-publishers"]["roleArn"].endswith(f"role/{PREFIX}-ml-publishers")
    assert "roleArn" not in groups["hub-admins"]
    (attachment,) = of_type(
        resources, "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment"
    )
    assert attachment.inputs["roles"] == {
        "authenticated": f"arn:aws:iam::123456789012:role/{PREFIX}-no-access"
    }
    assert attachment.inputs["roleMappings"] == [
        {
            "identityProvider": f"{ENDPOINT}:id-client-jupyterhub",
            "type": "Token",
            "ambiguousRoleResolution": "Deny",
        }
    ]
    (tags,) = of_type(
        resources, "aws:cognito/identityPoolProviderPrincipalTag:IdentityPoolProviderPrincipalTag"
    )
    assert tags.inputs["principalTags"] == {"username": "cognito:username"}


def statements(resources: list, group: str) -> dict[str, dict]:
    policies = by_name(resources, "aws:iam/rolePolicy:RolePolicy")
    return {s["Sid"]: s for s in json.loads(policies[f"role-{group}-s3"]["policy"])["Statement"]}


def test_s3_policies_are_least_privilege_with_a_per_person_prefix(provisioned):
    _, resources = provisioned
    bucket = f"arn:aws:s3:::{PREFIX}"
    me = "${cognito-identity.amazonaws.com:sub}"
    training, publishers = (
        statements(resources, "ml-training"),
        statements(resources, "ml-publishers"),
    )
    assert set(training) == {"ListSharedAndOwnPrefixes", "ReadDatasetsAndModels", "OwnPrefix"}
    assert set(publishers) == set(training) | {"PublishModels"}
    assert training["OwnPrefix"]["Resource"] == f"{bucket}/users/{me}/*"
    assert training["ListSharedAndOwnPrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
        "datasets/*",
        "models/*",
        f"users/{me}/*",
    ]
    assert publishers["PublishModels"] == {
        "Sid": "PublishModels",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"{bucket}/models/*",
    }
    for group in ("ml-training", "ml-publishers"):
        for statement in statements(resources, group).values():
            assert statement["Effect"] == "Allow"
            assert "*" not in str(statement["Action"]).replace("s3:", "")
            resources_ = statement["Resource"]
            for arn in [resources_] if isinstance(resources_, str) else resources_:
                assert arn.startswith(bucket)


def test_a_description_without_an_aws_section_provisions_no_aws_access(mocks):
    description = copy.deepcopy(DEMO)
    del description["aws"]
    exports, resources = provision(mocks, description)
    assert of_type(resources, "aws:cognito/identityPool:IdentityPool") == []
    assert of_type(resources, "aws:iam/role:Role") == []
    assert "AWS_COGNITO_IDENTITY_POOL_ID" not in exports
    hub = client(resources, "jupyterhub")
    assert hub["allowedOauthFlows"] == ["code"]


@pytest.mark.parametrize(
    ("edit", "entry"),
    [
        pytest.param({"bucket": "Not_A_Bucket"}, "aws.bucket", id="bucket"),
        pytest.param({"models_prefix": "models"}, "aws.models_prefix", id="prefix-without-slash"),
        pytest.param(
            {"group_access": {"ml-nobody": "read"}},
            "aws.group_access.ml-nobody",
            id="unknown-group",
        ),
        pytest.param(
            {"group_access": {"ml-training": "admin"}}, "aws.group_access.ml-training", id="level"
        ),
    ],
)
def test_an_invalid_aws_section_is_refused_naming_the_entry(edit, entry):
    description = copy.deepcopy(DEMO)
    description["aws"] = {**description["aws"], **edit}
    with pytest.raises(PoolDescriptionError, match=entry.replace(".", r"\.")):
        aws_access(validate_pool(description, "pool.json"), "pool.json")
