"""The one Cognito core: used by the Hub, the standalone server, jobs and protected resources.

- :mod:`.http` — no redirects, one cap on every answer (:data:`~.http.MAX_RESPONSE_BYTES`);
- :mod:`.oidc` — discovery and the JWKS cache;
- :mod:`.jws`, :mod:`.verify` — strict JWS parsing and :class:`~.verify.CognitoTokenVerifier`;
- :mod:`.oauth2` — PKCE, client authentication, the token answer mapped onto the exception tree;
- :mod:`.endpoint` — :class:`~.endpoint.TokenEndpoint`, every grant and revocation;
- :mod:`.client` — :class:`~.client.CognitoClient`: one pool and app client, discovered once,
  token answers verified;
- :mod:`.settings` — :class:`~.settings.CognitoSettings`, the traitlets and the one
  ``$COGNITO_*`` list (:data:`~.settings.COGNITO_ENV`) of the Hub and the standalone server.

Nothing is imported here: the kernel client imports :mod:`.oauth2` alone (standard library), a
resource :mod:`.verify` (standard library + PyJWT), and neither needs traitlets or tornado.
"""
