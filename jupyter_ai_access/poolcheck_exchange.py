"""``check-pool``'s token-exchange checks: can the Hub exchange a user's token per audience?

Cognito's token exchange (RFC 8693) needs the pool on the ESSENTIALS or PLUS feature plan, the
Hub's app client with ``ALLOW_TOKEN_EXCHANGE_DELEGATION``, the actor machine client
(``jupyterhub-actor``) able to get its token, each downstream audience a resource server of the
pool, and that server's scopes allowed on the Hub's client (a user's token carries only those).
Each is asked of the pool itself, by real requests with the real client credentials:

- the actor client's ``client_credentials`` token (when its id and secret are given);
- an exchange at the token endpoint per audience (the pool description's resource servers other
  than the actor's): with a user's access token when given, else with a made-up subject token,
  which a pool that accepts the grant, the flag and the audience refuses as ``invalid_grant``;
- ``/oauth2/authorize`` per downstream scope: a scope the Hub's client may not ask for is
  ``invalid_scope``.

The answers (``unsupported_grant_type``, ``unauthorized_client``, ``invalid_target``,
``invalid_scope``, ...) become one line each naming what to set: the description's field (which
``infra/`` provisions) or the console's. Nothing is changed and no token or secret is printed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from .errors import ConfigurationError
from .pooldesc.model import AppClient, PoolDescription

__all__ = ["ACTOR_CLIENT", "ExchangeInputs", "Finding", "exchange_checks", "read_secret_file"]

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
DELEGATION = "ALLOW_TOKEN_EXCHANGE_DELEGATION"
ACTOR_CLIENT = "jupyterhub-actor"
HUB_CLIENT = "jupyterhub"
#: the actor's own resource server when the description has no actor client (the demo's)
ACTOR_SERVER = "notebook-platform"
#: JWT-shaped, signed by nobody: a pool that got as far as the subject token refuses it
MADE_UP = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImNoZWNrLXBvb2wifQ.eyJzdWIiOiJjaGVjay1wb29sIn0.Y2hlY2s"
#: when no description names an audience: unknown to any pool (a refusal as invalid_target
#: then says the grant and the flag were accepted)
PLACEHOLDER_AUDIENCE = "check-pool.invalid"
UPDATE = "then `pulumi up` in infra/ (or the same in the Cognito console)"

Request = Callable[[str, "bytes | None", str], "tuple[int, dict[str, str], bytes]"]
#: (ok: True / False / None for skipped, what, detail), as poolcheck.Check takes them
Finding = tuple["bool | None", str, str]


@dataclass(frozen=True)
class ExchangeInputs:
    """What check-pool was given for the exchange checks (all optional)."""

    pool: PoolDescription | None = None
    source: str = "the pool description"
    actor_client_id: str = ""
    actor_secret: str = field(default="", repr=False)
    subject_token: str = field(default="", repr=False)

    @property
    def wanted(self) -> bool:
        """Whether anything asks for the exchange checks."""
        return bool(self.pool or self.actor_client_id or self.subject_token)


def read_secret_file(path: str, setting: str) -> str:
    """The stripped content of a small file (a secret, a token); a link is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigurationError(f"{setting} {path!r} cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        value = f.read(65536).decode("utf-8", "replace").strip()
    if not value:
        raise ConfigurationError(f"{setting} {path!r} is empty")
    return value


def _error(body: bytes) -> str:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _hub_client(inputs: ExchangeInputs, client_id: str) -> AppClient | None:
    if inputs.pool is None:
        return None
    for key in (client_id, HUB_CLIENT):
        try:
            return inputs.pool.client(key)
        except KeyError:
            continue
    return None


def _audiences(inputs: ExchangeInputs) -> dict[str, tuple[str, ...]]:
    """Downstream audiences and their scopes: the description's resource servers but the
    actor's (the servers of the actor client's scopes, else ``notebook-platform``)."""
    if inputs.pool is None:
        return {}
    try:
        actor_scopes = inputs.pool.client(ACTOR_CLIENT).allowed_oauth_scopes
    except KeyError:
        actor_scopes = ()
    actor_servers = {s.split("/", 1)[0] for s in actor_scopes} or {ACTOR_SERVER}
    return {
        rs.identifier: tuple(f"{rs.identifier}/{s}" for s in rs.scopes)
        for rs in inputs.pool.resource_servers
        if rs.identifier not in actor_servers
    }


#: the token endpoint's answer to an exchange -> (ok, detail, stop probing); {aud}, {src}
_ANSWERS: dict[str, tuple[bool, str, bool]] = {
    "unsupported_grant_type": (
        False,
        "the pool refuses the token-exchange grant (unsupported_grant_type): token exchange needs "
        'the ESSENTIALS or PLUS feature plan; set "feature_plan": "ESSENTIALS" in {src} (infra/ '
        f"sends it as the user pool's user_pool_tier), {UPDATE}",
        True,
    ),
    "unauthorized_client": (
        False,
        "the Hub's app client may not exchange by delegation (unauthorized_client): add "
        f"{DELEGATION} to its explicit_auth_flows in {{src}} (infra/ keeps "
        f"ALLOW_REFRESH_TOKEN_AUTH beside it), {UPDATE}",
        True,
    ),
    "invalid_target": (
        False,
        "{aud!r} is not a resource server of this pool (invalid_target): add it to "
        f"resource_servers in {{src}} with its scopes, {UPDATE}",
        False,
    ),
    "invalid_scope": (
        False,
        "the user's token holds no scope of {aud!r} the Hub's client may exchange "
        "(invalid_scope): add {aud}/<scope> to the Hub client's allowed_oauth_scopes in {src}, "
        f"{UPDATE}, and let users sign in again",
        False,
    ),
    "invalid_request": (
        False,
        "the pool did not understand the exchange (invalid_request): see "
        "docs/reference/local-cognito.md, 'Token exchange: what the emulator assumes', for the "
        "parameters assumed",
        True,
    ),
}


def _probe_message(error: str, audience: str, inputs: ExchangeInputs) -> tuple[bool, str, bool]:
    """(ok, detail, stop probing) for the token endpoint's answer to an exchange."""
    if error == "invalid_target" and audience == PLACEHOLDER_AUDIENCE:
        return True, "the grant and the Hub client's delegation flag are accepted", True
    if error == "invalid_grant" and not inputs.subject_token:
        return (
            True,
            f"grant, delegation flag and audience {audience!r} accepted (the made-up subject "
            "token was refused, as it should)",
            False,
        )
    if error == "invalid_grant":
        actor = "" if inputs.actor_client_id else " (and the actor's: a made-up one was sent)"
        return (
            False,
            "the subject or actor token was refused (invalid_grant): give a current access "
            f"token of a user signed in through the Hub's client{actor}",
            True,
        )
    ok, detail, stop = _ANSWERS.get(error, (False, f"unexpected answer {error}", True))
    return ok, detail.format(aud=audience, src=inputs.source), stop


def _issued(body: bytes, audience: str) -> tuple[bool, str]:
    try:
        token = str(json.loads(body)["access_token"])
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, KeyError, IndexError, TypeError):
        return False, "the answer holds no access token"
    act = claims.get("act") or {}
    ok = claims.get("aud") == audience and bool(act)
    return ok, (
        f"issued: aud {claims.get('aud')!r}, scope {claims.get('scope')!r}, act "
        f"{act.get('client_id') or act.get('sub') or 'missing'}"
    )


@dataclass
class _Probe:
    """The Hub client's credentials, the pool's endpoints and what check-pool was given."""

    client_id: str
    client_secret: str = field(repr=False)
    endpoints: dict[str, str]
    callback_url: str
    inputs: ExchangeInputs
    request: Request

    def actor(self) -> tuple[Finding, str]:
        """The actor client's finding and its token ("" when there is none)."""
        what, inputs = "exchange actor client", self.inputs
        if not inputs.actor_client_id:
            if inputs.pool is not None and all(
                c.name != ACTOR_CLIENT for c in inputs.pool.app_clients
            ):
                return (
                    False,
                    what,
                    f"{inputs.source} has no machine app client {ACTOR_CLIENT!r}, whose token is "
                    "the actor of every exchange: add it (allowed_oauth_flows "
                    "['client_credentials'], one scope of its own such as "
                    f"'notebook-platform/act'), {UPDATE}",
                ), ""
            return (
                None,
                what,
                "give --actor-client-id and --actor-secret-file (infra/'s outputs "
                "JUPYTERHUB_ACTOR_CLIENT_ID and _SECRET) to check it gets its token",
            ), ""
        form = urlencode({"grant_type": "client_credentials"}).encode()
        auth = _basic(inputs.actor_client_id, inputs.actor_secret)
        status, _, body = self.request(self.endpoints["token"], form, auth)
        if status == 200:
            try:
                token = str(json.loads(body)["access_token"])
            except (ValueError, KeyError, TypeError):
                return (False, what, "the token endpoint's answer has no access_token"), ""
            ok = f"{inputs.actor_client_id} gets its client_credentials token"
            return (True, what, ok), token
        error = _error(body) or f"HTTP {status}"
        fixes = {
            "invalid_client": "no such app client in this pool, or the wrong secret: provision "
            f"the machine client {ACTOR_CLIENT!r} (app_clients in {inputs.source}, {UPDATE}) "
            "and give its id and secret",
            "unauthorized_client": "the client may not use client_credentials: set its "
            f"allowed_oauth_flows to ['client_credentials'] in {inputs.source}, {UPDATE}",
            "invalid_scope": "the client has no custom scope: give it one of its own (e.g. "
            f"'notebook-platform/act') in {inputs.source}, {UPDATE}",
        }
        detail = f"refused ({error}): {fixes.get(error, 'check the actor client')}"
        return (False, what, detail), ""

    def exchange(
        self, audience: str, scopes: Sequence[str], actor_token: str
    ) -> tuple[Finding, bool]:
        """One exchange at the token endpoint: (the finding, whether probing should stop)."""
        inputs = self.inputs
        form = {
            "grant_type": GRANT,
            "subject_token": inputs.subject_token or MADE_UP,
            "subject_token_type": ACCESS,
            "actor_token": actor_token or MADE_UP,
            "actor_token_type": ACCESS,
            "audience": audience,
        }
        if scopes:
            form["scope"] = " ".join(scopes)
        auth = _basic(self.client_id, self.client_secret)
        status, _, body = self.request(self.endpoints["token"], urlencode(form).encode(), auth)
        what = f"exchange for {audience}" if audience != PLACEHOLDER_AUDIENCE else "exchange"
        if status == 200 and inputs.subject_token:
            ok, detail = _issued(body, audience)
            return (ok, what, detail), False
        ok, detail, stop = _probe_message(_error(body) or f"HTTP {status}", audience, inputs)
        return (ok, what, detail), stop

    def scopes(self, audience: str, scopes: Sequence[str]) -> Finding:
        """Which of the audience's scopes ``/oauth2/authorize`` refuses to the Hub's client."""
        refused = []
        for scope in scopes:
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": self.client_id,
                    "redirect_uri": self.callback_url,
                    "scope": f"openid {scope}",
                    "state": "check-pool",
                }
            )
            _, headers, _ = self.request(f"{self.endpoints['authorization']}?{query}", None, "")
            location = headers.get("Location", "")
            if parse_qs(urlsplit(location).query).get("error") == ["invalid_scope"]:
                refused.append(scope)
        what = f"exchange scopes of {audience}"
        if refused and len(refused) == len(scopes):
            return (
                False,
                what,
                f"the Hub's app client may ask for none of {list(scopes)} (invalid_scope at "
                "/oauth2/authorize), so no user's token can be exchanged for it: add them to the "
                f"Hub client's allowed_oauth_scopes in {self.inputs.source}, {UPDATE}",
            )
        note = f" ({refused} not allowed: never in exchanged tokens)" if refused else ""
        return True, what, f"the Hub's app client may ask for them{note}"


def exchange_checks(
    client_id: str,
    client_secret: str,
    endpoints: dict[str, str],
    callback_url: str,
    inputs: ExchangeInputs,
    request: Request,
) -> Iterator[Finding]:
    """The exchange checks, one finding per line (``endpoints``: token and authorization)."""
    if not inputs.wanted:
        yield (None, "token exchange", "give --pool (and the actor's credentials) to check it")
        return
    probe = _Probe(client_id, client_secret, endpoints, callback_url, inputs, request)
    finding, actor_token = probe.actor()
    yield finding
    hub = _hub_client(inputs, client_id)
    allowed = set(hub.allowed_oauth_scopes) if hub is not None else set()
    stopped = False
    for audience, scopes in (_audiences(inputs) or {PLACEHOLDER_AUDIENCE: ()}).items():
        if not stopped:
            wanted = [s for s in scopes if s in allowed]
            finding, stopped = probe.exchange(audience, wanted, actor_token)
            yield finding
        if scopes:
            yield probe.scopes(audience, scopes)
