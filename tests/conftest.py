"""Shared fixtures: the package's pytest plugin and pytest-jupyter's server fixtures."""

pytest_plugins = [
    "jupyter_ai_access.testing.pytest_plugin",
    "pytest_jupyter.jupyter_server",
    "pytester",
]
