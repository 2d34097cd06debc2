"""``GET /aws-credentials`` on the kernels' loopback endpoint: botocore's container credentials.

Each kernel's environment names this URL in ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and its secret
file in ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``; botocore sends the file's content as the raw
``Authorization`` header. The refusals are the token path's
(:class:`.endpoint.KernelRequestHandler`: foreign ``Host``, ``Origin``, ``X-Forwarded-*`` /
``Forwarded``, no live kernel's secret → 403).

Answers: 200 :class:`~jupyter_ai_access.protocol.AWSContainerCredentials`, its ``Expiration``
``900 + recheck_seconds`` seconds ahead (never later than the real expiry: botocore refreshes
within 900 s of it, so a running process comes back every ``recheck_seconds`` while the held
credentials are served again without a request to AWS); 403 ``no_role`` when no role fits the
user's groups; 502 ``aws_refused`` when AWS refused the exchange; 503 ``unavailable`` when AWS or
the Hub cannot be reached and nothing valid is held. botocore puts the body's message into the
exception the notebook sees, so each message names the cause and what to do.

Once the Hub session has ended the answer is 200 with ``error: login_required``, empty
credentials and the message in ``Expiration``: botocore ignores a failed refresh during its
advisory window (it keeps the old credentials for 5 more minutes, and retries a non-200 answer
three times with a 1 s sleep at every AWS call), but it cannot ignore an ``Expiration`` it cannot
read, so the next AWS call raises at once with "... log in again at <url>" in its message
(``ParserError: Unknown string format: ...``). Clients that read the status see ``error``.
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
from .settings import BOTOCORE_ADVISORY

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
            self._ended(ended, kernel_id)
            return
        try:
            issued = await aws.get(kernel_id)
        except SessionEndedError as e:
            self._ended(e, kernel_id)
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
            self._ended(ended, kernel_id)
            return
        until = None
        if aws.recheck_seconds > 0:
            until = aws.clock() + BOTOCORE_ADVISORY + aws.recheck_seconds
        self.finish(dict(issued.container_answer(until)))

    def _ended(self, ended: SessionEndedError, kernel_id: str) -> None:
        """200 that botocore cannot take: the message where it reads the expiry (see above)."""
        message = f"AWS access ended with your JupyterHub session: {ended}"
        if self.endpoint.events is not None:
            self.endpoint.events.refused("session_ended", 200, kernel_id)
        self.finish(
            {
                "error": ERROR_LOGIN_REQUIRED,
                "message": message,
                "login_url": ended.login_url,
                "AccessKeyId": "",
                "SecretAccessKey": "",
                "Token": "",
                "Expiration": message,
            }
        )
