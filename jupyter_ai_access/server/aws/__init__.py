"""AWS credentials for kernels: the user's ID token exchanged for temporary AWS credentials.

- :mod:`.settings` — ``AWSSettings``: every ``c.AWSCredentialBroker.*`` setting;
- :mod:`.exchange` — the two unsigned exchanges (Cognito identity pool, STS web identity);
- :mod:`.broker` — ``AWSCredentialBroker``: one exchange at a time, cached, renewed, dropped at
  the end of the session;
- :mod:`.endpoint` — ``GET /aws-credentials`` on the kernels' loopback endpoint (botocore's
  container-credentials provider).
"""

from __future__ import annotations

from .broker import AWSCredentialBroker
from .settings import AWSSettings

__all__ = ["AWSCredentialBroker", "AWSSettings"]
