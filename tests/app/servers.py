"""Local servers the output tests talk to: an HTTP(S) receiver and test certificates."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Request:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes  # decompressed when gzip
    status: int
    client_cert: bool = False


@dataclass
class Receiver:
    """An HTTP server on loopback that answers ``fail_first`` requests with ``fail_status``."""

    fail_first: int = 0
    fail_status: int = 503
    tls: ssl.SSLContext | None = None
    hang: threading.Event | None = None  # when set, requests wait on it (a dead endpoint)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with lock:
                    failing = len(receiver.requests) < receiver.fail_first
                    status = receiver.fail_status if failing else 200
                    cert = bool(getattr(self.connection, "getpeercert", lambda: None)())
                    receiver.requests.append(
                        Request(self.path, dict(self.headers), body, status, cert)
                    )
                self.send_response(status)
                payload = b"nope" if failing else b'{"ok": true}'
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/falco"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    def close(self) -> None:
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    server_pem: Path  # certificate + key in one file (webserver.ssl_certificate)
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> bytes:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    return data


def make_certs(directory: Path) -> Certs:
    """Issue the test certificates into ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("lanner test CA"))
        .issuer_name(_name("lanner test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def issue(cn: str, stem: str, server: bool) -> tuple[Path, Path, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(pem)
        return cert_path, key_path, pem + _write_key(key, key_path)

    server_cert, server_key, server_both = issue("127.0.0.1", "server", True)
    client_cert, client_key, _ = issue("lanner client", "client", False)
    server_pem = directory / "server.pem"
    server_pem.write_bytes(server_both)
    return Certs(ca_path, server_cert, server_key, server_pem, client_cert, client_key)


def server_context(certs: Certs, require_client: bool = False) -> ssl.SSLContext:
    """A TLS server context with the test server certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs.ca)
    return ctx


class Daemon:
    """A server binary started for a test, its output in a log file."""

    def __init__(self, args: list[str], log: Path) -> None:
        import subprocess

        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._fh.close()


def need(binary: str, package: str) -> str:
    """The path of a Debian package's binary, or skip the test naming the package."""

    from helpers import require_tool

    return require_tool(binary, package)


@contextmanager
def prometheus(tmp: Path, target_port: int, port: int) -> Iterator[str]:
    """Prometheus scraping 127.0.0.1:target_port/metrics every second; yields its URL."""
    import httpx

    from .helpers import wait_until

    binary = need("prometheus", "prometheus")
    conf = tmp / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: lanner\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    proc = Daemon(
        [binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp / 'prom-data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        tmp / "prometheus.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/-/ready").status_code == 200, 60, "prometheus")
        yield url
    finally:
        proc.stop()


@contextmanager
def rsyslog(tmp: Path) -> Iterator[tuple[Path, Path]]:
    """rsyslogd in the foreground reading a Unix socket; yields (socket, output file).

    Each message becomes ``facility severity tag msg`` in the output file.
    """
    from .helpers import wait_until

    binary = need("rsyslogd", "rsyslog")
    sock, out, work = tmp / "rsyslog.sock", tmp / "rsyslog.out", tmp / "rsyslog-work"
    work.mkdir()
    conf = tmp / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{sock}")\n'
        'template(name="fields" type="string" string="%syslogfacility-text% '
        '%syslogseverity-text% %syslogtag% %msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="fields")\n'
    )
    proc = Daemon([binary, "-n", "-f", str(conf), "-i", str(tmp / "rsyslog.pid")],
                  tmp / "rsyslog.log")  # fmt: skip
    try:
        wait_until(lambda: sock.exists() or proc.proc.poll() is not None, 30, "rsyslog socket")
        if proc.proc.poll() is not None:
            raise AssertionError(f"rsyslogd exited: {(tmp / 'rsyslog.log').read_text()}")
        yield sock, out
    finally:
        proc.stop()
