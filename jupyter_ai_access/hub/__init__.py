"""Runs in the JupyterHub process: the Cognito authenticator and the Hub's token endpoint.

- :mod:`.authenticator` — ``CognitoOAuthenticator`` (entry point ``cognito``), built in layers:
  :mod:`.settings`, :mod:`.cognito` (Cognito's endpoints), :mod:`.refresh`;
- :mod:`.handlers` — login, callback, logout and logout-complete handlers;
- :mod:`.tokens_api` — ``GET /hub/api/ai-access/users/<name>/tokens`` and
  ``configure_token_delivery(c)`` for ``jupyterhub_config.py``;
- :mod:`.audit` — audit records (JSON lines on the logger ``jupyter_ai_access.audit``);
- :mod:`.metrics` — Prometheus metrics on the Hub's ``/hub/metrics``;
- :mod:`._compat` — the only place that touches private names of JupyterHub and oauthenticator
  and that knows the differences between their supported versions (oauthenticator 16 and 17).

Needs the ``hub`` extra (jupyterhub, oauthenticator); never imports ``jupyter_server``.
"""
