"""Runs in the user's Jupyter server: the extension that delivers tokens to kernels.

- :mod:`.app` — ``AIAccessApp``, the server extension (auto-enabled by ``jupyter-config/``);
- :mod:`.broker` — ``TokenBroker``: the user's tokens from its source, cached, renewed, handed out;
- :mod:`.tokenset` — ``TokenSet`` and ``TokenSource``, the interface of the broker's sources;
- :mod:`.hub_source` — ``HubSource``: tokens from the Hub, and the session watch;
- :mod:`.aws` — AWS credentials for kernels (settings, exchange, broker, endpoint);
- :mod:`.store` — ``KernelTokenStore``: per-kernel token folders and secrets;
- :mod:`.provisioner` — ``AIAccessProvisioner``: points each kernel at its folder and endpoint;
- :mod:`.endpoint` — the loopback endpoint kernels call with their secret;
- :mod:`.status` — ``/ai-access/api/info``, ``/ai-access/api/status``, ``/ai-access/status``;
- :mod:`.state` — the token state the JupyterLab item shows, and the status long-poll's waits;
- :mod:`.events` — audit events on the server's event bus (schemas in ``event_schemas/``).

Needs the ``server`` extra (jupyter-server, jupyter-client).
"""
