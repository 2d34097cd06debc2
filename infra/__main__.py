"""Pulumi entry point: read the stack configuration and the pool description, provision Cognito.

cd infra
pulumi config set aws:region eu-west-1
pulumi config set hubUrl https://hub.example.org
pulumi config set domainPrefix my-hub-login          # or customDomain + certificateArn
pulumi config set externalIdpIssuer https://login.example.org   # optional federated IdP
pulumi config set externalIdpClientId abc
pulumi config set --secret externalIdpClientSecret ...
pulumi config set bucketName my-org-ml-data          # S3 names are global (default: aws.bucket)
pulumi up
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from program import StackSettings, load_description, provision

config = pulumi.Config()
settings = StackSettings.from_config(config, pulumi.Config("aws").get("region") or "")
description = load_description(
    Path(config.get("poolFile") or "../jupyter_ai_access/local_cognito/demo-pool.json"), settings
)
for name, value in provision(description, settings).items():
    pulumi.export(name, value)
