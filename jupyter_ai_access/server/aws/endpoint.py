"""``GET /aws-credentials`` on the kernels' loopback endpoint: botocore's container credentials.

Each kernel's environment names this URL in ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and its secret
file in ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``; botocore sends the file's content as the raw
``Authorization`` header. The refusals are the token path's
(:class:`.endpoint.KernelRequestHandler`: foreign ``Host``, ``Origin``, ``X-Forwarded-*`` /
``Forwarded``, no live kernel's secret → 403).

Answers: 200 :class:`~jupyter_ai_access.protocol.AWSContainerCredentials`; 401 ``login_required``
at once when the Hub session has ended; 403 ``no_role`` when no role fits the user's groups;
502 ``aws_refused`` when AWS refused the exchange; 503 ``unavailable`` when AWS or the Hub cannot
be reached and nothing valid is held. botocore puts the body's message into the exception the
notebook sees, so each message names the cause and what to do.
"""

from __future__ import annotations

from ...errors import (
    AWSRefusedError,
    NoRoleError,
    SessionEndedError,
    TokenDeliveryError,
)
from ...protocol import ERROR_AWS_REFUSED, ERROR_LOGIN_REQUIRED, ERROR_NO_ROLE, ERROR_UNAVAILABLE
from ..endpoint import KernelRequestHandler

__all__ = ["AWSCredentialsHandler"]


class AWSCredentialsHandler(KernelRequestHandler):
    """Serves the user's temporary AWS credentials to a live kernel's botocore."""

    async def get(self) -> None:
        """Refuse what the token path refuses; answer with the held or fresh credentials."""
        kernel_id = self.kernel_id()
        if kernel_id is None:
            return
        broker, aws = self.endpoint.broker, self.endpoint.aws
        assert aws is not None, "served only when AWS credentials are configured"
        ended = broker.session_ended
        if ended is not None:  # before anything else: no credentials once the session is over
            aws.drop()
            self._refuse(401, ERROR_LOGIN_REQUIRED, str(ended), login_url=ended.login_url)
            return
        try:
            issued = await aws.get(kernel_id)
        except SessionEndedError as e:
            self._refuse(401, ERROR_LOGIN_REQUIRED, str(e), login_url=e.login_url)
            return
        except NoRoleError as e:
            self._refuse(403, ERROR_NO_ROLE, str(e))
            return
        except AWSRefusedError as e:
            self._refuse(502, ERROR_AWS_REFUSED, str(e), code=e.code)
            return
        except TokenDeliveryError as e:
            self._refuse(503, ERROR_UNAVAILABLE, str(e))
            return
        ended = broker.session_ended
        if ended is not None:  # the session ended while we waited for AWS
            self._refuse(401, ERROR_LOGIN_REQUIRED, str(ended), login_url=ended.login_url)
            return
        self.finish(dict(issued.container_answer()))
