"""The two Hub configurations the benchmarks compare (ours and GenericOAuthenticator)."""

from __future__ import annotations


def cognito_config(issuer: str, domain: str, client_id: str, *, token_delivery: bool) -> str:
    """CognitoOAuthenticator against the local emulator (secret from $COGNITO_CLIENT_SECRET)."""
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {issuer!r}
c.CognitoOAuthenticator.domain = {domain!r}
c.CognitoOAuthenticator.client_id = {client_id!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training"}}
c.JupyterHub.log_level = "WARN"
"""
    if token_delivery:
        config += """
c.CognitoOAuthenticator.scope = ["openid", "email", "profile", "ai-access/datasets.read"]
from jupyter_ai_access.hub.tokens_api import configure_token_delivery
configure_token_delivery(c)
"""
    return config


def generic_config(domain: str, client_id: str) -> str:
    """GenericOAuthenticator configured the documented way for Cognito ($OAUTH_CLIENT_SECRET)."""
    return f"""
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = {client_id!r}
c.GenericOAuthenticator.authorize_url = "{domain}/oauth2/authorize"
c.GenericOAuthenticator.token_url = "{domain}/oauth2/token"
c.GenericOAuthenticator.userdata_url = "{domain}/oauth2/userInfo"
c.GenericOAuthenticator.scope = ["openid", "email", "profile"]
c.GenericOAuthenticator.username_claim = "username"
c.GenericOAuthenticator.basic_auth = True
c.GenericOAuthenticator.enable_auth_state = True
c.GenericOAuthenticator.allow_all = True
c.JupyterHub.log_level = "WARN"
"""
