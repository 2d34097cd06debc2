"""The Pulumi program (``infra/program.py``) run with Pulumi's unit-test mocks: no AWS, no service.

:func:`install_mocks` records every resource (Cognito's generated ids and secrets filled in);
:func:`provision` runs the program on a pool description and resolves its exports;
:func:`of_type` and :func:`client` pick resources out. :data:`DEMO` is the demo pool description.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from . import ROOT

__all__ = ["DEMO", "Mocks", "client", "install_mocks", "of_type", "provision", "settings"]

if str(ROOT / "infra") not in sys.path:
    sys.path.insert(0, str(ROOT / "infra"))  # the infra/ folder is not a package

import program  # type: ignore[import-not-found]
import pulumi

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.pooldesc import validate_pool

DEMO: dict[str, Any] = json.loads(
    DEMO_POOL_FILE.read_text()
)


class Mocks(pulumi.runtime.Mocks):
    """Records every resource; Cognito generates client secrets and ids."""

    def __init__(self) -> None:
        self.resources: list[Any] = []

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        """Record ``args``; the id and outputs AWS would give."""
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "aws:cognito/userPool:UserPool":
            outputs["endpoint"] = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
            return "eu-west-1_AbC123xyz", outputs
        if args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::123456789012:role/{args.inputs['name']}"
        if args.typ == "aws:cognito/identityPool:IdentityPool":
            return "eu-west-1:11111111-2222-3333-4444-555555555555", outputs
        if args.typ == "aws:cognito/userPoolClient:UserPoolClient":
            outputs["clientSecret"] = f"generated-secret-of-{args.name}"
            return f"id-{args.name}", outputs
        return f"{args.name}-id", outputs

    def call(self, args: Any) -> Any:
        """No provider functions are called."""
        return {}


def install_mocks() -> Mocks:
    """New :class:`Mocks`, installed as Pulumi's runtime."""
    m = Mocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


def settings(**over: Any) -> Any:
    """The program's ``StackSettings`` for a hub at hub.example.org, ``over`` replacing fields."""
    base = dict(
        hub_url="https://hub.example.org",
        region="eu-west-1",
        domain_prefix="my-hub-login",
        external_idp_issuer="https://login.example.org",
        external_idp_client_id="corp-client",
        external_idp_client_secret=pulumi.Output.secret("idp-secret-value"),
    )
    return program.StackSettings(**{**base, **over})


def provision(
    mocks: Mocks, description: dict[str, Any] | None = None, **over: Any
) -> tuple[dict[str, Any], list[Any]]:
    """Provision with mocks; return (exports resolved, resources)."""
    pool = validate_pool(description or DEMO, "pool.json", for_aws=True)
    s = settings(**over)
    program.check_for_aws(pool, s, "pool.json")
    exports = program.provision(pool, s)
    resolved: dict[str, Any] = {}
    secret_flags: dict[str, bool] = {}

    async def collect() -> None:
        for name, value in exports.items():
            output = pulumi.Output.from_input(value)
            resolved[name] = await output.future()
            secret_flags[name] = await output.is_secret()
        # Let the registrations no export depends on (groups, role policies) finish: wait until
        # no resource has been added for half a second (registrations run on Pulumi's threads,
        # slower on a loaded machine), at most 30 s.
        quiet, seen = 0, len(mocks.resources)
        for _ in range(3000):
            await asyncio.sleep(0.01)
            quiet = quiet + 1 if len(mocks.resources) == seen else 0
            seen = len(mocks.resources)
            if quiet >= 50:
                break

    # On the loop Pulumi's outputs live on (the same helper @pulumi.runtime.test uses).
    from pulumi.runtime.sync_await import _sync_await

    _sync_await(collect())
    resolved["_secret"] = secret_flags
    return resolved, mocks.resources


def of_type(resources: list[Any], typ: str) -> list[Any]:
    """The resources of Pulumi type ``typ``."""
    return [r for r in resources if r.typ == typ]


def client(resources: list[Any], name: str) -> dict[str, Any]:
    """The inputs of the user pool client named ``name`` (exactly one)."""
    (found,) = [
        r.inputs
        for r in of_type(resources, "aws:cognito/userPoolClient:UserPoolClient")
        if r.inputs["name"] == name
    ]
    return dict(found)
