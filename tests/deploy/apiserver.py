"""A real Kubernetes API server for the tests: etcd and kube-apiserver (v1.20.2, built by
scripts/build_kube_apiserver.sh into ~/.cache/lanner/kube/bin) on loopback, with TLS, static bearer
tokens, RBAC and no anonymous access.

With ``audit=True`` the API server also sends its audit events (the policy shipped in
deploy/kubernetes/apiserver/audit-policy.yaml, batches after at most 1 s) over HTTPS with
a bearer token to ``APIServer.audit``'s URL, where a test starts ``lanner run``'s k8s audit
webhook with that certificate and token.

There is no controller-manager, scheduler or kubelet: objects are stored and served, RBAC
is enforced, but no pod is created or run. ``admin`` is in ``system:masters``;
``nobody`` is authenticated with no bindings (for RBAC-deny checks); ``respond`` has only
the bindings a test gives it.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from helpers import free_port, wait_until

from .helpers import Lines

KUBE_BIN = (
    Path(
        os.environ.get("LANNER_KUBE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lanner/kube"
    )
    / "bin"
)
AUDIT_POLICY = Path(__file__).resolve().parents[2] / "deploy/kubernetes/apiserver/audit-policy.yaml"
TOKENS = {
    "admin": "admin-token-0123456789",
    "nobody": "nobody-token-0123456789",
    "respond": "respond-token-0123456789",  # bound by tests to `lanner respond --rbac`'s role
}


def _openssl(*args: str, cwd: Path) -> None:
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"openssl {' '.join(args)}: {out.stderr}"


def _certificates(d: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1 and a service-account key pair."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "2", "-subj", "/CN=lanner-test-ca", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
             cwd=d)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


def _audit_receiver(d: Path) -> AuditTarget:
    """A serving certificate for Lanner's webhook signed by the cluster's CA, a token, a
    port free now, and the webhook kubeconfig the API server reads."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "lanner.key",
             "-out", "lanner.csr", "-subj", "/CN=lanner-k8s-audit", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", "lanner.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "lanner.crt", "-days", "2", "-extfile", "san.ext",
             cwd=d)  # fmt: skip
    pem = d / "lanner.pem"  # the k8saudit plugin's sslCertificate: certificate and key
    pem.write_text((d / "lanner.crt").read_text() + (d / "lanner.key").read_text())
    target = AuditTarget(free_port(), "audit-token-" + os.urandom(8).hex(), pem)
    (d / "audit-token").write_text(target.token + "\n")
    (d / "audit-webhook.yaml").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: lanner\n  cluster:\n    server: {target.url}\n"
        f"    certificate-authority: {d / 'ca.crt'}\n"
        f"users:\n- name: lanner\n  user:\n    tokenFile: {d / 'audit-token'}\n"
        "contexts:\n- name: lanner\n  context: {cluster: lanner, user: lanner}\n"
        "current-context: lanner\n"
    )
    return target


@dataclass
class AuditTarget:
    """Where the API server sends audit events: Lanner's webhook must listen there."""

    port: int
    token: str
    pem: Path  # certificate + key for the webhook (signed by the cluster CA)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/k8s-audit"


@dataclass
class APIServer:
    """The running etcd and kube-apiserver, and how to reach them."""

    dir: Path
    url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Lines] = field(default_factory=dict)
    audit: AuditTarget | None = None

    def kubeconfig(self, user: str = "admin") -> Path:
        """A kubeconfig file for one of TOKENS' users."""
        path = self.dir / f"kubeconfig-{user}"
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {self.url}\n"
            f"    certificate-authority: {self.dir / 'ca.crt'}\n"
            f"users:\n- name: {user}\n  user:\n    token: {TOKENS[user]}\n"
            f"contexts:\n- name: test\n  context: {{cluster: test, user: {user}}}\n"
            "current-context: test\n"
        )
        return path

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {name}\n" + "\n".join(lines.snapshot()[-20:]) for name, lines in self.logs.items()
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def start(d: Path, audit: bool = False) -> APIServer:
    """etcd, then kube-apiserver, on loopback ports free now; returns once /readyz is ok.
    With ``audit``, audit events go to ``.audit.url`` (see the module's docstring)."""
    for name in ("etcd", "kube-apiserver"):
        assert (KUBE_BIN / name).is_file(), (
            f"{KUBE_BIN / name} is missing: run scripts/build_kube_apiserver.sh "
            "(scripts/setup.sh does)"
        )
    _certificates(d)
    (d / "tokens.csv").write_text(
        f'{TOKENS["admin"]},admin,1,"system:masters"\n{TOKENS["nobody"]},nobody,2\n'
        f"{TOKENS['respond']},respond,3\n"
    )
    client, peer, secure = free_port(), free_port(), free_port()
    server = APIServer(d, f"https://127.0.0.1:{secure}")
    audit_flags = []
    if audit:
        server.audit = _audit_receiver(d)
        audit_flags = [
            f"--audit-policy-file={AUDIT_POLICY}",
            f"--audit-webhook-config-file={d / 'audit-webhook.yaml'}",
            "--audit-webhook-mode=batch",
            "--audit-webhook-batch-max-wait=1s",
            "--audit-webhook-initial-backoff=1s",
        ]

    def spawn(name: str, *args: str) -> None:
        proc = subprocess.Popen(
            [str(KUBE_BIN / name), *args],
            cwd=d,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        server.procs.append(proc)
        server.logs[name] = Lines(proc.stderr)

    try:
        spawn(
            "etcd",
            "--name=test",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=test=http://127.0.0.1:{peer}",
        )
        spawn(
            "kube-apiserver",
            "--bind-address=127.0.0.1",
            f"--secure-port={secure}",
            "--insecure-port=0",
            f"--etcd-servers=http://127.0.0.1:{client}",
            f"--tls-cert-file={d / 'server.crt'}",
            f"--tls-private-key-file={d / 'server.key'}",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--anonymous-auth=false",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",  # as kubeadm sets it: privileged pods are admitted
            # ephemeral containers (kubernetes:tcpdump): alpha in 1.20, GA and on from 1.25
            "--feature-gates=EphemeralContainers=true",
            *audit_flags,
        )

        tls = ssl.create_default_context(cafile=str(d / "ca.crt"))

        def ready() -> bool:
            for proc in server.procs:
                assert proc.poll() is None, f"exited {proc.returncode}:\n{server.log_tail()}"
            answer = httpx.get(
                server.url + "/readyz",
                headers={"Authorization": f"Bearer {TOKENS['admin']}"},
                verify=tls,
                timeout=5,
            )
            return answer.status_code == 200

        wait_until(ready, 120, "kube-apiserver /readyz")
    except BaseException:
        server.stop()
        raise
    return server
