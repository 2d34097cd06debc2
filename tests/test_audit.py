"""The Hub's audit records and Prometheus metrics, from a real Hub (crafted IdP answers).

Logins, refreshes, logouts and token-endpoint requests go through a real JupyterHub; the tests
read the audit lines (logger ``jupyter_ai_access.audit``, forwarded into the Hub's log) and
scrape ``/hub/metrics`` as a service holding ``read:metrics``. Counters only grow and the Hub is
shared by the session, so each test compares against a scrape taken before it acted; user
names carry the prefix "au-" (a name logs in with one identity per Hub). Every audit
line and every label of our metrics goes through the canary check, and no label holds a name.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.hubs import server_token
from prometheus_client.parser import text_string_to_metric_families

from jupyter_ai_access.hub import metrics

PREFIX = "jupyter_ai_access_"
Sample = tuple[str, frozenset[tuple[str, str]]]


def scrape(hub: HubProcess) -> dict[Sample, float]:
    response = httpx.get(
        f"{hub.url}/hub/metrics", headers={"Authorization": f"token {hub.admin_token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name.startswith(PREFIX)
    }


def delta(before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str):
    key = (PREFIX + name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


class AuditLines:
    """The audit records the Hub wrote to its log from now on."""

    def __init__(self, hub: HubProcess) -> None:
        self.hub = hub
        self.offset = hub.log_file.stat().st_size

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        with self.hub.log_file.open("rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
        found = []
        for line in text.splitlines():
            start = line.find('{"ts": ')
            if start >= 0:
                record = json.loads(line[start:])
                if event is None or record["event"] == event:
                    found.append(record)
        return found


@pytest.fixture
def audit(scripted_hub, canaries) -> Iterator[AuditLines]:
    lines = AuditLines(scripted_hub)
    yield lines
    assert canaries.find(json.dumps(lines.records())) == []


def login(hub: HubProcess, idp: Any, user: str | None, **kw: Any) -> HubBrowser:
    """Log in through the Hub; ``user`` None: with the IdP answer already set."""
    if user is not None:
        idp.login_ok(user, **kw)
    browser = HubBrowser(hub.url)
    browser.login("x", "y")
    return browser


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_logins_allowed_and_refused_are_counted_with_their_reason(scripted_hub, idp, audit):
    before = scrape(scripted_hub)
    assert login(scripted_hub, idp, "au-olga").logged_in
    assert not login(scripted_hub, idp, "au-pat", groups=[]).logged_in  # outside the allowed groups
    idp.answer_with(lambda form, auth: (200, idp.tokens("quinn", nonce="not-this-login")))
    assert not login(scripted_hub, idp, None).logged_in
    idp.answer_with(lambda form, auth: (400, {"error": "invalid_grant"}))
    assert not login(scripted_hub, idp, None).logged_in
    after = scrape(scripted_hub)
    assert delta(before, after, "logins_total", result="allowed", reason="none") == 1
    assert delta(before, after, "logins_total", result="refused", reason="not_allowed") == 1
    assert delta(before, after, "logins_total", result="refused", reason="token_invalid") == 1
    assert delta(before, after, "logins_total", result="refused", reason="code_refused") == 1
    records = [(r["result"], r["reason"], r["user"]) for r in audit.records("login")]
    assert records == [
        ("allowed", "none", "au-olga"),
        ("refused", "not_allowed", "au-pat"),  # named: its tokens were verified
        ("refused", "token_invalid", None),  # not named: nothing verified says who
        ("refused", "code_refused", None),
    ]
    assert [r["status"] for r in audit.records("login")[1:]] == [403, 403, 400]


def due(hub: HubProcess, idp: Any, user: str) -> HubBrowser:
    """Logged in with tokens already within the refresh margin (300 s on this Hub)."""
    browser = login(hub, idp, user, lifetime=200)
    time.sleep(1.1)  # past auth_refresh_age
    return browser


def test_refreshes_by_result_with_their_latency_and_the_session_they_end(scripted_hub, idp, audit):
    before = scrape(scripted_hub)
    ok = due(scripted_hub, idp, "au-sam")
    idp.answer_with(lambda form, auth: (200, idp.tokens("au-sam", lifetime=3600)))
    assert ok.go("/hub/home").status_code == 200
    down = due(scripted_hub, idp, "au-tess")
    idp.answer_with(lambda form, auth: (503, {"message": "down"}))
    assert down.go("/hub/home").status_code == 200
    ended = due(scripted_hub, idp, "au-uma")
    origin_jti = scripted_hub.user("au-uma")["auth_state"]["origin_jti"]
    idp.answer_with(lambda form, auth: (400, {"error": "invalid_grant"}))
    ended.http.get(f"{scripted_hub.url}/hub/home")
    after = scrape(scripted_hub)
    for result in ("ok", "idp_unavailable", "invalid_grant"):
        assert delta(before, after, "refreshes_total", result=result) == 1, result
        count = delta(before, after, "refresh_duration_seconds_count", result=result)
        assert count == 1, result
    assert delta(before, after, "refresh_duration_seconds_sum", result="ok") > 0
    assert delta(before, after, "session_ends_total", cause="invalid_grant") == 1
    refreshes = {r["user"]: r for r in audit.records("refresh")}
    assert {u: r["result"] for u, r in refreshes.items()} == {
        "au-sam": "ok",
        "au-tess": "idp_unavailable",
        "au-uma": "invalid_grant",
    }
    assert all(r["duration_seconds"] > 0 for r in refreshes.values())
    (session,) = audit.records("session_ended")
    assert session["user"] == "au-uma" and session["cause"] == "invalid_grant"
    assert session["origin_jti_sha256"] == sha(origin_jti)  # the revocation feed's entry
    assert [(r["user"], r["result"]) for r in audit.records("revocation")] == [
        ("au-uma", "skipped")
    ]
    for b in (ok, down, ended):
        b.close()


def test_token_endpoint_answers_handouts_logout_and_revocation(scripted_hub, idp, audit, canaries):
    before = scrape(scripted_hub)
    browser = login(scripted_hub, idp, "au-vera")
    token = server_token(scripted_hub, "au-vera", canaries)
    state = scripted_hub.user("au-vera")["auth_state"]
    url = f"{scripted_hub.url}/hub/api/ai-access/users/{{}}/tokens"
    headers = {"Authorization": f"token {token}"}
    assert httpx.get(url.format("au-vera"), headers=headers, timeout=10).status_code == 200
    assert httpx.get(url.format("au-olga"), headers=headers, timeout=10).status_code == 404
    browser.go("/hub/logout")
    assert httpx.get(url.format("au-vera"), headers=headers, timeout=10).status_code == 401
    after = scrape(scripted_hub)
    assert delta(before, after, "token_requests_total", answer="tokens", mode="fetch") == 1
    assert delta(before, after, "token_requests_total", answer="not_found", mode="fetch") == 1
    answer = {"answer": "login_required", "mode": "fetch"}
    assert delta(before, after, "token_requests_total", **answer) == 1
    assert delta(before, after, "session_ends_total", cause="logout") == 1
    (handed,) = audit.records("tokens_handed")
    assert handed["token_id"].startswith("a") and handed["token_note"].startswith("Requested via")
    assert handed == {
        "ts": handed["ts"],
        "event": "tokens_handed",
        "user": "au-vera",
        "requester": "au-vera",  # the token belongs to its user
        "requester_kind": "user",
        "token_id": handed["token_id"],
        "token_note": handed["token_note"],
        "server": None,  # made through the API, not a server's (this Hub allows "scoped")
        "mode": "fetch",
        "expires_at": state["access_token_expires_at"],
        "origin_jti_sha256": sha(state["origin_jti"]),
    }
    assert [(r["user"], r["result"]) for r in audit.records("revocation")] == [
        ("au-vera", "revoked")
    ]
    assert [r["cause"] for r in audit.records("session_ended")] == ["logout"]
    browser.close()


def test_no_metric_label_holds_a_name_a_token_or_a_secret(scripted_hub, idp, canaries):
    login(scripted_hub, idp, "au-wanda").close()
    users = {u["name"] for u in scripted_hub.api("GET", "/users").json()}
    allowed = {
        "result": metrics.REFRESH_RESULTS | {"allowed", "refused"},
        "reason": metrics.LOGIN_REASONS,
        "answer": metrics.TOKEN_ANSWERS,
        "mode": {"fetch", "watch"},
        "cause": metrics.SESSION_CAUSES,
        "le": None,  # the histogram's buckets
    }
    samples = scrape(scripted_hub)
    assert any(name == PREFIX + "logins_total" for name, _ in samples)
    for name, labels in samples:
        for key, value in labels:
            assert key in allowed, (name, key)
            assert allowed[key] is None or value in allowed[key], (name, key, value)
            assert value not in users, (name, value)
    assert canaries.find(json.dumps([sorted(labels) for _, labels in samples])) == []
