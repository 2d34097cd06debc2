"""Run code and notebooks in a kernel of a running Jupyter server, over its REST API + websocket.

What a browser does, without the browser: create a kernel with ``POST api/kernels`` (cookie +
XSRF header), connect to ``api/kernels/<id>/channels``, send ``execute_request`` messages and
collect the outputs of each cell (every output is handed to the running leak check). Used by the
end-to-end tests against the local Hub and the chain tests.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .. import leaks

__all__ = ["ServerKernel"]


class ServerKernel:
    """One kernel of a (single-user) Jupyter server, driven over HTTP and a websocket."""

    def __init__(
        self, server_url: str, cookies: dict[str, str] | None = None, *, token: str = ""
    ) -> None:
        """Drive the server with a browser's ``cookies``, or a Hub API ``token`` with
        ``access:servers`` for it."""
        self.server_url = server_url.rstrip("/") + "/"
        self.cookies = cookies or {}
        self.token = token
        self.kernel_id = ""
        self.session = uuid.uuid4().hex
        self.ws: WebSocketClientConnection | None = None

    def _headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"token {self.token}"}
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {
            "Cookie": cookie,
            "X-XSRFToken": self.cookies.get("_xsrf", ""),
            "Referer": self.server_url,
        }

    async def start(self) -> ServerKernel:
        """Create the kernel and open its channels."""
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{self.server_url}api/kernels", json={"name": "python3"}, headers=self._headers()
            )
        response.raise_for_status()
        self.kernel_id = response.json()["id"]
        ws_url = self.server_url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels"
        self.ws = await websocket_connect(
            HTTPRequest(ws_url, headers=self._headers()), max_message_size=64 * 1024 * 1024
        )
        return self

    async def reconnect(self) -> ServerKernel:
        """Open the channels of the same kernel again (after the proxy in front restarted)."""
        if self.ws is not None:
            self.ws.close()
        ws_url = self.server_url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels"
        self.ws = await websocket_connect(
            HTTPRequest(ws_url, headers=self._headers()), max_message_size=64 * 1024 * 1024
        )
        return self

    async def execute(self, code: str, timeout: float = 120) -> dict[str, Any]:
        """Run ``code``; return {"stdout", "stderr", "result", "error"} of this execution."""
        assert self.ws is not None
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "session": self.session,
                        "username": "e2e",
                        "version": "5.3",
                        "date": datetime.now(timezone.utc).isoformat(),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "buffers": [],
                    "channel": "shell",
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        out: dict[str, Any] = {"stdout": "", "stderr": "", "result": None, "error": None}
        import asyncio

        async def collect() -> None:
            while True:
                raw = await self.ws.read_message()  # type: ignore[union-attr]
                if raw is None:
                    raise ConnectionError("the kernel's websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    out[content["name"]] += content["text"]
                elif kind == "execute_result":
                    out["result"] = content["data"].get("text/plain")
                elif kind == "error":
                    out["error"] = f"{content['ename']}: {content['evalue']}"
                elif kind == "status" and content["execution_state"] == "idle":
                    return

        await asyncio.wait_for(collect(), timeout)
        for name in ("stdout", "stderr", "result", "error"):
            leaks.observe(f"kernel output ({name}) of {self.server_url}", out[name] or "")
        return out

    async def run_notebook(self, notebook: dict[str, Any]) -> list[dict[str, Any]]:
        """Run every code cell in order; return their outputs (stops at the first error)."""
        results = []
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            result = await self.execute(source)
            results.append(result)
            if result["error"]:
                break
        return results

    async def shutdown(self) -> None:
        """Close the channels and delete the kernel."""
        if self.ws is not None:
            self.ws.close()
        if self.kernel_id:
            async with httpx.AsyncClient(timeout=60) as client:
                await client.delete(
                    f"{self.server_url}api/kernels/{self.kernel_id}", headers=self._headers()
                )
