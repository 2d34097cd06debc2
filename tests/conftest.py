"""Shared fixtures: the package's pytest plugin and pytest-jupyter's server fixtures."""

import logging

pytest_plugins = [
    "jupyter_ai_access.testing.pytest_plugin",
    "pytest_jupyter.jupyter_server",
    "pytester",
]


# The test clients' own request logs: httpcore's chatter drowns failure reports, and httpx logs
# the URLs the tests send (some tests put secrets into URLs on purpose to check the product's
# logs). The product's loggers stay at DEBUG for the leak check.
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)
