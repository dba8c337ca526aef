#!/usr/bin/env python3
"""CI check of `rtm2m serve` as a user meets it (run by .ci/run).

Starts the service (embedded default: simulator, synthetic population) on a free loopback port with tokens
from the environment, waits for /readyz, calls every path of /openapi.json with the right token (and checks
401 without one), opens the dashboard in headless Chromium through the DevTools protocol, checks that the
accounts table is filled and changes while watched, and keeps a screenshot in ci-artifacts/dashboard.png.

Usage: dashboard_check.py RTM2M_BINARY [--chromium /usr/bin/chromium] [--out ci-artifacts]
Needs the `websocket-client` package (pip). Loopback only; every wait is bounded.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websocket  # websocket-client

TOKENS = {
    "RTM2M_ADMIN_TOKEN": "ci-admin-token-" + os.urandom(8).hex(),
    "RTM2M_READ_TOKEN": "ci-read-token-" + os.urandom(8).hex(),
    "RTM2M_INGEST_TOKEN": "ci-ingest-token-" + os.urandom(8).hex(),
}
FAILURES = []
PASSED = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("content-type", "")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (PASSED if cond else FAILURES).append(what)


def endpoints(base):
    admin, read, ingest = TOKENS["RTM2M_ADMIN_TOKEN"], TOKENS["RTM2M_READ_TOKEN"], TOKENS["RTM2M_INGEST_TOKEN"]
    status, body, _ = http(base, "GET", "/openapi.json")
    check(status == 200, "GET /openapi.json -> 200")
    doc = json.loads(body)
    accounts = json.loads(http(base, "GET", "/v1/accounts?limit=5", read)[1])["accounts"]
    account = accounts[0]["id"]
    called = 0
    for path, ops in doc["paths"].items():
        for method in ops:
            secured = ops[method].get("security") != []
            if path == "/v1/ws":
                status, _, _ = http(base, "GET", path)  # without a token: refused before the upgrade
                check(status == 401, "GET /v1/ws without a token -> 401")
                called += 1
                continue
            if method == "get":
                real = path.replace("{id}", account)
                status, body, ctype = http(base, "GET", real, admin if "tokens" in path else read)
                check(status == 200, f"GET {real} -> {status}")
                if "json" in ctype:
                    json.loads(body)
                if secured:
                    status, body, _ = http(base, "GET", real)
                    check(status == 401 and "error" in json.loads(body), f"GET {real} without a token -> {status}")
            elif method == "post" and path == "/v1/events":
                ev = json.dumps([{"type": "deposit", "account": account, "asset": "USDC", "amount": 1000}]).encode()
                status, body, _ = http(base, "POST", path, ingest, ev)
                check(status == 200 and json.loads(body)["applied"] == 1, f"POST {path} -> {status} {body[:200]!r}")
                status, _, _ = http(base, "POST", path, read, ev)
                check(status == 403, f"POST {path} with a read token -> {status}")
                status, body, _ = http(base, "POST", path, ingest, b"[{\"type\":\"deposit\"}]")
                check(status == 400 and json.loads(body)["error"]["field"].startswith("events[0]"), f"POST {path} malformed -> {status}")
            elif method == "post" and path == "/v1/tokens":
                status, body, _ = http(base, "POST", path, admin, json.dumps({"name": "ci-desk", "scope": "account:" + account}).encode())
                check(status == 201, f"POST {path} -> {status}")
                desk = json.loads(body)["token"]
                check(http(base, "GET", "/v1/accounts/" + account, desk)[0] == 200, "per-account token reads its account")
                other = accounts[1]["id"]
                check(http(base, "GET", "/v1/accounts/" + other, desk)[0] == 403, "per-account token cannot read another account")
            elif method == "delete" and path == "/v1/tokens/{name}":
                status, _, _ = http(base, "DELETE", "/v1/tokens/ci-desk", admin)
                check(status == 200, f"DELETE /v1/tokens/ci-desk -> {status}")
            else:
                check(False, f"{method.upper()} {path}: not exercised by this script")
            called += 1
    check(called >= 15, f"{called} documented operations called")


class Cdp:
    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=30)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")


def browser(base, chromium, out):
    profile = tempfile.mkdtemp(prefix="rtm2m-chromium-")
    port = free_port()
    proc = subprocess.Popen([
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
        "--window-size=1600,1100", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    target = pages[0]
                    break
            except OSError:
                pass
            time.sleep(0.2)
        check(target is not None, "headless Chromium started with a DevTools page")
        if target is None:
            return
        cdp = Cdp(target["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=f"{base}/#token={TOKENS['RTM2M_READ_TOKEN']}")
        rows_js = "JSON.stringify([...document.querySelectorAll('#accounts tbody tr')].map(r => r.innerText))"
        first = []
        for _ in range(100):
            time.sleep(0.2)
            first = json.loads(cdp.eval(rows_js) or "[]")
            if len(first) >= 10:
                break
        check(len(first) >= 10, f"accounts table shows {len(first)} rows")
        changed, last = False, first
        for _ in range(40):
            time.sleep(0.5)
            last = json.loads(cdp.eval(rows_js) or "[]")
            if last != first:
                changed = True
                break
        check(changed, "accounts table changed while watched (live data)")
        ws_state = cdp.eval("document.getElementById('conn').textContent")
        check(ws_state == "live", f"dashboard WebSocket is {ws_state!r}")
        time.sleep(4)
        smiles = cdp.eval("document.querySelectorAll('#smiles circle').length")
        check((smiles or 0) > 20, f"vol smiles plotted with {smiles} quotes")
        sources = cdp.eval("document.querySelectorAll('#index tbody tr').length")
        check((sources or 0) >= 5, f"index sources listed: {sources}")
        heat = cdp.eval("document.querySelectorAll('#detail .heat td').length")
        check((heat or 0) > 0, f"account drill-down heat map cells: {heat}")
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "dashboard.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        check(os.path.getsize(path) > 10_000, f"screenshot kept: {path}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", default="ci-artifacts")
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="rtm2m-ci-data-")
    env = dict(os.environ, **TOKENS)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "serve.log"), "w")
    server = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env=env, stdout=log, stderr=log)
    try:
        ready = False
        for _ in range(600):
            if server.poll() is not None:
                break
            try:
                if http(base, "GET", "/readyz")[0] == 200:
                    ready = True
                    break
            except OSError:
                pass
            time.sleep(0.2)
        check(ready, "rtm2m serve became ready")
        if ready:
            endpoints(base)
            browser(base, args.chromium, args.out)
            status, body, _ = http(base, "GET", "/metrics")
            text = body.decode()
            for name in ["rtm2m_tick_to_margin_seconds_count", "rtm2m_events_per_second", "rtm2m_accounts{status=",
                         "rtm2m_surface_staleness_seconds", "rtm2m_journal_commit_seconds_count"]:
                check(name in text, f"/metrics has {name}")
        log.flush()
        with open(log.name) as f:
            logged = f.read()
        check(not any(t in logged for t in TOKENS.values()), "no token appears in the service's output")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)
    if FAILURES:
        print("failed: " + "; ".join(FAILURES))
    print(f"dashboard: {len(PASSED)} passed, {len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
