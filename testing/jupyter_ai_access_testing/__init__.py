"""Test helpers for jupyter_ai_access, a distribution of their own (not in the runtime wheel).

A token factory, canaries and the leak check, a crafted-answers issuer, a stand-in Hub endpoint,
real Hub processes, a hosted-UI client and pytest fixtures (``pytest_plugins =
["jupyter_ai_access_testing.pytest_plugin"]``). Install with ``pip install ./testing`` from the
repository; needs pytest and httpx.
"""
