"""Test helpers for jupyter_ai_access, a distribution of their own (not in the runtime wheel).

The public pytest plugin (``pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin"]``) and
what it is made of: a token factory (:mod:`.tokens`), canaries and the leak check
(:mod:`.canary`, :mod:`.leaks`), a crafted-answers issuer (:mod:`.jwks_server`), a stand-in for
the Hub's token endpoint (:mod:`.fake_hub`), a hosted-UI client (:mod:`.flows`), and stopping
whatever the tests started (:mod:`.cleanup`, :mod:`.processes`). Use them to test your own
resources and server code against the local emulator.

:mod:`.harness` is this repository's own test harness (real Hubs, the README's deployment,
browsers, kernels, the fixtures its test modules share): no compatibility promise.

Install with ``pip install ./testing`` from the repository; needs pytest and httpx.
"""
