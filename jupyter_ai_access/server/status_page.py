"""``GET /ai-access/status``: the token status as a page that fits JupyterLab (no token values).

Light or dark like JupyterLab (``?theme=dark|light``, else the browser's preference), a link back
to JupyterLab and to the Hub, times as dates in the reader's own time zone (rendered by the
browser from ISO 8601 UTC; UTC without script), one sentence per state, and the absolute login
URL when the session has ended.
"""

from __future__ import annotations

import html
import os
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .status import AUTH_RESOURCE, status_model

__all__ = ["StatusPageHandler"]

_STATE_TITLE = {
    "fresh": "Tokens are fresh",
    "renewing": "Renewing tokens",
    "unreachable": "Cognito or JupyterHub cannot be reached",
    "ended": "Your session has ended",
    "signed-out": "Not signed in to Amazon Cognito",
    "unavailable": "No token delivery here",
}

_STYLE = """
:root{--bg:#fff;--fg:rgba(0,0,0,.87);--muted:rgba(0,0,0,.54);--line:#e0e0e0;--brand:#1976d2;
--ok:#388e3c;--warn:#f57c00;--bad:#d32f2f;--card:#fafafa}
@media (prefers-color-scheme:dark){:root:not(.light){--bg:#111;--fg:rgba(255,255,255,1);
--muted:rgba(255,255,255,.54);--line:#424242;--brand:#64b5f6;--card:#212121}}
:root.dark{--bg:#111;--fg:rgba(255,255,255,1);--muted:rgba(255,255,255,.54);--line:#424242;
--brand:#64b5f6;--card:#212121}
body{background:var(--bg);color:var(--fg);margin:0;font:13px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:46em;margin:0 auto;padding:1.5em}
nav a{color:var(--brand);margin-right:1.5em;text-decoration:none}
h1{font-size:1.5em;font-weight:500;margin:.8em 0 .4em}
.state{border-left:4px solid var(--state);background:var(--card);padding:.8em 1em;margin:1em 0}
.state strong{display:block;font-size:1.15em;color:var(--state)}
.fresh{--state:var(--ok)}.renewing{--state:var(--brand)}.unreachable{--state:var(--warn)}
.ended,.unavailable,.signed-out{--state:var(--bad)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;width:14em}
.btn{display:inline-block;margin-top:.6em;padding:.35em .9em;border-radius:2px;
background:var(--brand);color:var(--bg);text-decoration:none;border:0;font:inherit;cursor:pointer}
footer{color:var(--muted);margin-top:1.5em}
"""

_SCRIPT = """
for (const el of document.querySelectorAll("time[datetime]")) {
  const when = new Date(el.dateTime), seconds = Math.round((when - Date.now()) / 1000);
  const rel = seconds >= 0 ? ` (in ${seconds} s)` : ` (${-seconds} s ago)`;
  el.textContent = when.toLocaleString(undefined, {year: "numeric", month: "short",
    day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short"}) + rel;
}
"""


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
    return f'<time datetime="{iso}">{shown}</time>'


class StatusPageHandler(JupyterHandler):
    """``GET /ai-access/status``: :func:`~.status.status_model` as a page."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Render the status page."""
        m: dict[str, Any] = status_model(self.settings["jupyter_ai_access"])
        theme = self.get_query_argument("theme", "")
        root_class = theme if theme in ("dark", "light") else ""
        rows = [
            ("User", html.escape(m["user"] or "—")),
            ("Groups", html.escape(", ".join(m["groups"]) or "—")),
            ("Access token expires", _when(m["access_token_expires_at"])),
            ("ID token expires", _when(m["id_token_expires_at"])),
            ("Last renewal", _when(m["last_renewal"])),
            ("Kernels holding tokens", str(m["kernels_with_tokens"])),
        ]
        if m.get("aws"):
            aws = m["aws"]
            rows += [
                ("AWS identity", html.escape(aws.get("principal") or "—")),
                (
                    "AWS credentials expire",
                    _when(aws["expires_at"])
                    if aws.get("expires_at")
                    else "none held yet: a kernel's first AWS call fetches them",
                ),
            ]
            if aws.get("last_error"):
                rows.append(("AWS problem", html.escape(aws["last_error"])))
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        state = m["headline"]
        action = ""
        if state in ("ended", "signed-out") and m["login_url"]:
            url = html.escape(m["login_url"])
            words = "Sign in with Amazon Cognito" if state == "signed-out" else "Log in again at"
            if state == "signed-out" or m["token_source"] == "standalone":
                action = f'<a class="btn" id="sign-in" href="{url}">{words}</a>'
            else:
                action = (
                    f'<a class="btn" href="{url}" target="_blank" rel="noopener">{words} {url}</a>'
                )
        if m["token_source"] == "standalone" and state in ("fresh", "renewing", "unreachable"):
            # Signing out changes state: a POST with the _xsrf token, never a link (GET).
            xsrf = html.escape(self.xsrf_token.decode())
            action += (
                f'<form method="post" action="{html.escape(self.base_url)}ai-access/logout">'
                f'<input type="hidden" name="_xsrf" value="{xsrf}">'
                '<button class="btn" id="sign-out" type="submit">Sign out of Amazon Cognito'
                "</button></form>"
            )
        lab = html.escape(self.base_url + "lab")
        hub_base = os.environ.get("JUPYTERHUB_BASE_URL")
        hub = f'<a href="{html.escape(hub_base)}hub/home">JupyterHub home</a>' if hub_base else ""
        self.set_header("Cache-Control", "no-store")
        self.finish(f"""<!DOCTYPE html><html lang="en" class="{root_class}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>AI access: token status</title><style>{_STYLE}</style></head><body><main>
<nav><a href="{lab}">← Back to JupyterLab</a>{hub}</nav>
<h1>Token status</h1>
<div class="state {state}" role="status"><strong>{_STATE_TITLE[state]}</strong>
{html.escape(m["message"])}{"<br>" if action else ""}{action}</div>
<table>{table}</table>
<footer>Token values are never shown here. Refresh the page for the current state.</footer>
</main><script>{_SCRIPT}</script></body></html>""")
