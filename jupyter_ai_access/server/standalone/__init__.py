"""The standalone token source: the Jupyter server signs its one user in to Amazon Cognito.

- :mod:`.source` — :class:`StandaloneSource`, the broker's source (sign-in, renewal, sign-out);
- :mod:`.settings` — its traitlets (the shared ``$COGNITO_*`` ones come from
  :class:`jupyter_ai_access.cognito.settings.CognitoSettings`);
- :mod:`.handlers` — the browser's sign-in, callback and sign-out pages;
- :mod:`.process` — keeping the client secret and refresh token from kernels (environ, /proc).

Cognito itself (discovery, the token endpoint, verification) is :mod:`jupyter_ai_access.cognito`.
"""

from __future__ import annotations

from .source import PendingLogin, StandaloneSource

__all__ = ["PendingLogin", "StandaloneSource"]
