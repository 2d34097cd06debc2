"""The one exception tree of jupyter_ai_access.

Imports only the standard library, so resource servers can use it without Jupyter::

    JupyterAIAccessError
    ├── ConfigurationError             a setting is missing, malformed or contradictory
    │   └── PoolDescriptionError       the pool description file asks for something invalid
    └── LocalCognitoError              the local Cognito emulator cannot run
        ├── NodeNotFoundError          no usable Node.js executable
        ├── NodePackagesMissingError   oidc-provider (the emulator's Node packages) not installed
        └── EmulatorStartError         the emulator process failed or did not become ready

Messages say what failed and what to do about it. They never contain a token, a password or a
client secret: callers pass names and hashes, not values.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "EmulatorStartError",
    "JupyterAIAccessError",
    "LocalCognitoError",
    "NodeNotFoundError",
    "NodePackagesMissingError",
    "PoolDescriptionError",
]


class JupyterAIAccessError(Exception):
    """Base class of every error raised by jupyter_ai_access."""


class ConfigurationError(JupyterAIAccessError):
    """A setting is missing, malformed or contradictory; the message names the setting."""


class PoolDescriptionError(ConfigurationError):
    """The pool description file asks for something a Cognito user pool would refuse.

    ``entry`` names the offending entry (for example ``app_clients[1] 'training-jobs'``).
    """

    def __init__(self, source: str, entry: str, problem: str) -> None:
        self.source = source
        self.entry = entry
        self.problem = problem
        super().__init__(f"{source}: {entry}: {problem}")


class LocalCognitoError(JupyterAIAccessError):
    """The local Cognito emulator cannot run."""


class NodeNotFoundError(LocalCognitoError):
    """No Node.js executable (version 20.19 or newer) was found."""


class NodePackagesMissingError(LocalCognitoError):
    """The emulator's Node packages (oidc-provider) are not installed."""


class EmulatorStartError(LocalCognitoError):
    """The emulator process exited or did not report that it was ready in time."""
