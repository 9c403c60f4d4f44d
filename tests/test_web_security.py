"""The web face as an attacker on the same network meets it: real edge-run processes, real
sockets, exact bytes. Credentials, limits, timeouts, malformed requests, headers, TLS, IPv6."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import ssl
import statistics
import subprocess
import time

import pytest

from .conftest import BIN
from .servers import start_edge_run, wait_until
from .web_client import basic, connect, fetch, raw, read_head, request_bytes, status_of

USER, PASSWORD, TOKEN = "edge", "S3cret-web-pass", "tok-9f8e7d6c5b4a"
CAMERA = ("--synthetic", "--no-infer", "--camera-fps", "15")


def stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """edge-run with a password, a metrics token, two viewers at most and a 1 s timeout."""
    tmp = tmp_path_factory.mktemp("guarded")
    (tmp / "password").write_text(PASSWORD + "\n")
    (tmp / "token").write_text(TOKEN + "\n")
    proc, notes = start_edge_run(
        *CAMERA, "--http", "127.0.0.1:0", "--http-password-file", tmp / "password",
        "--metrics-token-file", tmp / "token", "--http-max-viewers", "2", "--http-timeout",
        "1", wait_for=("web page on",))
    yield notes["web page on"], proc
    stop(proc)
    log = "".join(proc.log) + proc.stdout.read()
    assert PASSWORD not in log and TOKEN not in log


def figures(url: str) -> dict:
    return json.loads(fetch(url, "/stats", headers=basic(USER, PASSWORD))[2])["sinks"]["http"]


def test_every_route_needs_the_password(guarded):
    url, _ = guarded
    for path in ("/", "/stats", "/snapshot.jpg", "/stream.mjpg", "/metrics"):
        for headers in ({}, basic(USER, "wrong"), basic("admin", PASSWORD),
                        basic(USER, PASSWORD + "x"), {"Authorization": "Basic !!!"},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            status, head, _ = fetch(url, path, headers=headers)
            assert status == 401, (path, headers)
            assert head["www-authenticate"].startswith('Basic realm="edge"')
            # a good login clears this address's failures (no lock-out: see the next test)
            assert fetch(url, "/", headers=basic(USER, PASSWORD))[0] == 200
    for path in ("/", "/stats", "/snapshot.jpg", "/metrics"):
        assert fetch(url, path, headers=basic(USER, PASSWORD))[0] == 200, path
    # the bearer token opens /metrics (for Prometheus) and nothing else
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert fetch(url, "/metrics", headers=bearer)[0] == 200
    assert fetch(url, "/stats", headers=bearer)[0] == 401
    stats = json.loads(fetch(url, "/stats", headers=basic(USER, PASSWORD))[2])
    assert PASSWORD not in json.dumps(stats) and stats["sinks"]["http"]["unauthorized"] >= 30


def test_a_wrong_password_answers_as_fast_as_a_wrong_user(guarded):
    url, _ = guarded
    cases = {"wrong user": basic("admin", PASSWORD),
             "wrong password": basic(USER, PASSWORD[:-1] + "X"),
             "short password": basic(USER, "x")}
    times: dict[str, list[float]] = {k: [] for k in cases}
    with connect(url) as sock:  # one kept-alive connection: no connect time in the figures
        for _ in range(150):
            for name, headers in cases.items():
                t0 = time.perf_counter()
                sock.sendall(request_bytes("GET", "/stats", headers))
                status, head, rest = read_head(sock)
                while len(rest) < int(head["content-length"]):
                    rest += sock.recv(4096)
                times[name].append(time.perf_counter() - t0)
                assert status == 401
            sock.sendall(request_bytes("GET", "/", basic(USER, PASSWORD)))  # clears failures
            status, head, rest = read_head(sock)
            while len(rest) < int(head["content-length"]):
                rest += sock.recv(4096)
            assert status == 200
    medians = {k: statistics.median(v) for k, v in times.items()}
    spread = max(medians.values()) - min(medians.values())
    # an early exit on the user name would save a keyed hash (microseconds); over HTTP the
    # three medians must not tell the cases apart beyond the noise of a loaded machine
    assert spread < 0.25 * min(medians.values()) + 2e-4, medians


def test_guessing_passwords_is_slowed_down_per_address(guarded):
    """Brute force: after five failures an address is locked out, 1 s, then 2, 4, ... and
    answered 429 without its credentials being looked at, the right password included."""
    url, _ = guarded
    statuses = [fetch(url, "/stats", headers=basic(USER, f"guess-{i:04d}"))[0]
                for i in range(100)]
    assert statuses[:5] == [401] * 5 and statuses.count(401) <= 7, statuses
    status, head, _ = fetch(url, "/stats", headers=basic(USER, PASSWORD))
    assert status == 429 and 1 <= int(head["retry-after"]) <= 60
    time.sleep(int(head["retry-after"]))
    assert fetch(url, "/stats", headers=basic(USER, PASSWORD))[0] == 200  # and clears it
    assert fetch(url, "/stats", headers=basic(USER, "wrong"))[0] == 401


def test_a_password_too_short_or_unreadable_is_refused(tmp_path):
    for text, why in (("        \n", "at least 8 characters"), ("short\n", "at least 8"),
                      ("x" * 5000, "more than a secret file may hold")):
        (tmp_path / "pw").write_text(text)
        proc = check("--http", "0.0.0.0:0", "--http-password-file", tmp_path / "pw")
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = check("--http", "0.0.0.0:0", "--http-password-file", "/dev/zero")
    assert proc.returncode == 2 and "not a regular file" in proc.stderr, proc.stderr


def test_password_check_does_the_same_work_whatever_is_wrong():
    from edge.web.auth import Credentials

    creds = Credentials(USER, PASSWORD, TOKEN)
    headers = {name: basic(*pair)["Authorization"] for name, pair in {
        "wrong user": ("admin", PASSWORD), "wrong password": (USER, PASSWORD[:-1] + "X"),
        "both wrong": ("nobody", "x")}.items()}
    best = dict.fromkeys(headers, float("inf"))
    for _ in range(9):  # CPU time of this thread: another process's load does not count
        for name, header in headers.items():
            t0 = time.thread_time()
            for _ in range(3000):
                assert not creds.allows(header)
            best[name] = min(best[name], time.thread_time() - t0)
    # both digests are always computed: stopping at a wrong user name makes that case take
    # about 0.55x the time of a wrong password on this machine
    assert max(best.values()) / min(best.values()) < 1.35, best
    assert creds.allows(basic(USER, PASSWORD)["Authorization"])
    assert creds.allows(f"Bearer {TOKEN}", bearer_ok=True)
    assert not creds.allows(f"Bearer {TOKEN}", bearer_ok=False)


def test_the_viewer_after_the_last_gets_503_with_a_reason(guarded):
    url, _ = guarded
    auth = basic(USER, PASSWORD)
    viewers = []
    try:
        for _ in range(2):
            sock = connect(url)
            sock.sendall(request_bytes("GET", "/stream.mjpg", auth))
            status, head, _ = read_head(sock)
            assert status == 200 and head["content-type"].startswith("multipart/x-mixed")
            viewers.append(sock)
        status, head, body = fetch(url, "/stream.mjpg", headers=auth)
        assert status == 503 and b"too many viewers: 2 of 2" in body
        assert head["retry-after"] == "10"
        viewers.pop().close()
        wait_until(lambda: figures(url)["viewers"] == 1, 10, "the server noticed one left")
        sock = connect(url)
        viewers.append(sock)
        sock.sendall(request_bytes("GET", "/stream.mjpg", auth))
        assert read_head(sock)[0] == 200
    finally:
        for sock in viewers:
            sock.close()


def test_idle_and_malformed_connections_are_answered_or_dropped_promptly(guarded):
    url, _ = guarded  # --http-timeout 1
    answer, took = raw(url, b"")  # connects and says nothing
    assert answer == b"" and took < 3
    answer, took = raw(url, b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request
    assert status_of(answer) == 408 and took < 3
    answer, took = raw(url, b"GET /stats")  # bytes with no newline
    assert status_of(answer) == 408 and took < 3
    for data, status in ((b"GET /\r\n", 400),  # HTTP/0.9
                         (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
                         (b"POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
                         (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413),
                         (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
                         (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 80 + b"\r\n", 431),
                         (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
                         (b"\x00\x01binary\r\n\r\n", 400)):
        answer, took = raw(url, data)
        assert status_of(answer) == status and took < 0.9, (data[:40], answer[:80], took)
    # a TLS ClientHello on the plain port is dropped at once, without an answer
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x00\x02\x00\x2f\x01\x00"
    answer, took = raw(url, hello)
    assert answer == b"" and took < 0.9
    counts = figures(url)
    assert counts["timeouts"] >= 3 and counts["bad_requests"] >= 8  # all but the POST


def test_a_viewer_that_stops_reading_is_dropped(guarded):
    url, _ = guarded
    before = figures(url)["dropped_viewers"]
    sock = connect(url, rcvbuf=4096)
    try:
        sock.sendall(request_bytes("GET", "/stream.mjpg", basic(USER, PASSWORD)))
        wait_until(lambda: figures(url)["dropped_viewers"] > before, 20,
                   "the non-reading viewer dropped")
        assert figures(url)["viewers"] == 0
    finally:
        sock.close()


def test_security_headers_head_and_keep_alive(guarded):
    url, _ = guarded
    auth = basic(USER, PASSWORD)
    status, head, page = fetch(url, "/", headers=auth)
    assert status == 200 and head["x-content-type-options"] == "nosniff"
    assert head["x-frame-options"] == "DENY" and head["cache-control"] == "no-store"
    policy = head["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    script = re.search(rb"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"'sha256-{digest}'" in policy and "unsafe-inline" not in policy
    for path in ("/stats", "/snapshot.jpg", "/metrics"):
        head = fetch(url, path, headers=auth)[1]
        assert head["x-content-type-options"] == "nosniff" and "frame-ancestors" in \
            head["content-security-policy"], path
    status, head, body = fetch(url, "/", method="HEAD", headers=auth)
    assert status == 200 and int(head["content-length"]) == len(page) and body == b""
    with connect(url) as sock:  # HEAD of the stream: its head, then the connection closes
        sock.sendall(request_bytes("HEAD", "/stream.mjpg", auth))
        status, head, rest = read_head(sock)
        assert status == 200 and head["content-type"].startswith("multipart/x-mixed-replace")
        assert rest == b"" and sock.recv(100) == b""
    with connect(url) as sock:  # two requests on one connection
        for _ in range(2):
            sock.sendall(request_bytes("GET", "/stats", auth))
            status, head, rest = read_head(sock)
            while len(rest) < int(head["content-length"]):
                rest += sock.recv(65536)
            assert status == 200 and json.loads(rest)["model"] is None


def check(*args):
    """edge-run --check-config with these settings (no port opened)."""
    return subprocess.run([str(BIN / "edge-run"), "--no-config", *CAMERA, *map(str, args),
                           "--check-config"], capture_output=True, text=True, timeout=60)


def test_beyond_loopback_needs_credentials_or_an_explicit_insecure(tmp_path):
    for flag in ("--http", "--metrics"):
        refused = check(flag, "0.0.0.0:0")
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
        assert "beyond loopback" in refused.stderr and "--http-insecure" in refused.stderr
        allowed = check(flag, "0.0.0.0:0", "--http-insecure")
        assert allowed.returncode == 0 and "WITHOUT authentication" in allowed.stdout
    (tmp_path / "token").write_text("t0ken-long-enough\n")
    assert check("--metrics", "0.0.0.0:0", "--metrics-token-file", tmp_path / "token") \
        .returncode == 0
    # the token protects /metrics only: the page beyond loopback still needs a password
    assert check("--http", "0.0.0.0:0", "--metrics-token-file",
                 tmp_path / "token").returncode == 2
    (tmp_path / "empty").write_text("")
    empty = check("--http", "0.0.0.0:0", "--http-password-file", tmp_path / "empty")
    assert empty.returncode == 2 and "is empty" in empty.stderr
    half = check("--http", "127.0.0.1:0", "--http-cert", tmp_path / "token")
    assert half.returncode == 2 and "go together" in half.stderr
    # and a real start says so, every time
    proc, notes = start_edge_run(*CAMERA, "--http", "0.0.0.0:0", "--http-insecure",
                                 wait_for=("WARNING",))
    stop(proc)
    assert "WITHOUT authentication" in notes["WARNING"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_certificate_made_here(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    (tmp_path / "password").write_text(PASSWORD)
    proc, notes = start_edge_run(*CAMERA, "--http", "127.0.0.1:0", "--http-cert", cert,
                                 "--http-key", key, "--http-password-file",
                                 tmp_path / "password", wait_for=("web page on",))
    try:
        url = notes["web page on"]
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        status, _, body = fetch(url, "/stats", headers=basic(USER, PASSWORD), context=context)
        assert status == 200 and json.loads(body)["source"].startswith("synthetic 640x480")
        assert fetch(url, "/stats", context=context)[0] == 401
        answer, took = raw(url, request_bytes("GET", "/stats"))  # plain HTTP to the TLS port
        assert status_of(answer) == 400 and b"https://" in answer and took < 2
        with pytest.raises(ssl.SSLError):  # a client that does not trust it stops there
            fetch(url, "/stats", context=ssl.create_default_context())
    finally:
        stop(proc)
    bad = subprocess.run([str(BIN / "edge-run"), "--no-config", *CAMERA, "--http",
                          "127.0.0.1:0", "--http-cert", key, "--http-key", cert,
                          "--check-config"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a usable PEM certificate" in bad.stderr


def test_ipv6_loopback_and_foreign_host_names(tmp_path):
    try:
        import socket

        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    proc, notes = start_edge_run(*CAMERA, "--http", "[::1]:0", wait_for=("web page on",))
    try:
        url = notes["web page on"]
        assert url.startswith("http://[::1]:")
        status, _, body = fetch(url, "/stats", host="[::1]")
        assert status == 200 and json.loads(body)["source"].startswith("synthetic 640x480")
        # without a password, a name this machine does not go by is refused: a web page
        # elsewhere cannot rebind its own name to loopback and read the camera
        status, _, body = fetch(url, "/snapshot.jpg", host="camera.attacker.example")
        assert status == 421 and b"unexpected Host" in body
        assert fetch(url, "/stats", host="localhost:8080")[0] == 200
    finally:
        stop(proc)
