"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol.

The browser is the system's own: nothing is downloaded. Set MEDEMBED_CHROMIUM to use another binary.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

BINARIES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-default-apps", "--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
)  # fmt: skip


def chromium_binary() -> str | None:
    configured = os.environ.get("MEDEMBED_CHROMIUM")
    if configured:
        return configured
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


class HeadlessChromium:
    """One browser, one page. Every DevTools event received is kept in `events`."""

    def __init__(self, binary: str, profile_dir: Path, *, start_timeout_s: float = 60.0) -> None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = profile_dir / "chromium.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                            stdout=log, stderr=subprocess.STDOUT)
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        try:
            port = self._devtools_port(profile_dir / "DevToolsActivePort", start_timeout_s)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            # No Origin header: Chromium refuses DevTools websockets from origins it was not told about.
            self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, port_file: Path, timeout_s: float) -> int:
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}: {self.log_path.read_text()}")
            if port_file.is_file() and port_file.read_text().strip():
                return int(port_file.read_text().splitlines()[0])
            time.sleep(0.05)
        raise RuntimeError(f"chromium did not open its DevTools port in {timeout_s} s; log: {self.log_path}")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for_event(self, method: str, timeout_s: float = 30.0) -> dict[str, Any]:
        give_up = time.monotonic() + timeout_s
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > give_up:
                raise TimeoutError(f"no {method} within {timeout_s} s")
            self.events.append(json.loads(self.socket.recv()))
        return next(e for e in self.events if e.get("method") == method)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def full_page_png(self) -> bytes:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
