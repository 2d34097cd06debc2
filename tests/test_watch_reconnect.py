"""Session watches come back spread out after the Hub went away, not as one herd.

A Hub restart drops every user server's watch at the same instant. Twenty real TokenBrokers
watch a loopback "Hub" that answers 503 (restarting): their second attempts must not all
arrive together, as they would after the same fixed backoff (each one waits the same 1 s).
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jupyter_ai_access.retry import Backoff
from jupyter_ai_access.server.broker import TokenBroker
from jupyter_ai_access.server.hub_source import HubSource

SERVERS = 20


def test_jittered_backoff_draws_each_wait_below_the_delay():
    waits = []
    for _ in range(200):
        backoff = Backoff(1.0, 8.0, jitter=0.9)
        waits.append(backoff.failed())
    assert all(0.1 <= w <= 1.0 for w in waits)
    assert max(waits) - min(waits) > 0.5  # 200 draws over [0.1, 1]
    assert Backoff(1.0, 8.0).failed() == 1.0  # without jitter: exactly the delay


async def test_watches_reconnect_spread_out_after_the_hub_went_away():
    arrivals: dict[str, list[float]] = {}
    lock = threading.Lock()

    class Restarting(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                arrivals.setdefault(self.path.split("?")[0].split("/")[-2], []).append(
                    time.monotonic()
                )
            self.send_response(503)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 4 * SERVERS  # every watch's connection is accepted

    httpd = Server(("127.0.0.1", 0), Restarting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    hub = f"http://127.0.0.1:{httpd.server_address[1]}/hub/api"
    sources = [
        HubSource(hub_api_url=hub, api_token="t", user=f"u{i}", watch_wait=30)
        for i in range(SERVERS)
    ]
    for source in sources:
        TokenBroker(source=source, max_backoff=8)  # attaches itself: the watch pushes into it
    watches = [asyncio.ensure_future(source.watch_forever()) for source in sources]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(arrivals) == SERVERS and all(len(a) >= 2 for a in arrivals.values()):
                    break
            await asyncio.sleep(0.1)
    finally:
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        httpd.shutdown()
        httpd.server_close()
    # each server's wait between its failed watch and its next attempt: with a fixed backoff
    # all 1 s (every server that failed together comes back together); drawn at random here
    waits = [a[1] - a[0] for a in arrivals.values()]
    assert len(waits) == SERVERS
    assert max(waits) - min(waits) > 1.0 / 3
