"""A stand-in for GitHub's REST API (``https://api.github.com``) that the github actions
publish into (``lanner generate --github-api-serve``): the calls the github plugin makes
to scan what a webhook delivery announces, with GitHub's paths, headers and JSON shapes.

- ``GET /repos/{owner}/{repo}/compare/{base}...{head}``: the commits between the two and
  the changed files, each with its unified-diff ``patch`` (what a push's ``compare`` URL
  names; the plugin scans the added lines for secrets);
- ``GET /repos/{owner}/{repo}/commits/{ref}``: one commit, its files and patches;
- ``GET /repos/{owner}/{repo}/contents/{path}[?ref=]``: a file, base64 in ``content``
  (a workflow file, scanned for miners).

A ref is a branch name (``main``) or a commit id, whole or abbreviated. Every request
needs the token (``Authorization: Bearer`` or ``token``; 401 ``Bad credentials``
otherwise) and a ``User-Agent`` (403), and is counted against a rate limit reported in
the ``x-ratelimit-*`` headers (403 once spent); an unknown repository, commit or path is
404 ``Not Found``. It serves plain HTTP on loopback only: point the plugin's ``apiURL`` at
it. Repositories exist once something is pushed to them (:meth:`GithubApiDouble.push`).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import ipaddress
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lanner.exceptions import ActionError

API_VERSION = "2022-11-28"  # the REST API version GitHub serves (X-GitHub-Api-Version)
BRANCH = "main"
DOCS = "https://docs.github.com/rest"
_SHA = re.compile(r"[0-9a-f]{7,40}")

Doc = dict[str, Any]


def blob_sha(text: str) -> str:
    """Git's object id of a file's content."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class Commit:
    """One commit: its id, parent, message, author and the whole tree after it."""

    sha: str
    parent: str | None
    message: str
    author: str
    date: str
    tree: dict[str, str] = field(default_factory=dict)  # path -> content


@dataclass(slots=True)
class Repo:
    """A repository's history on one branch."""

    name: str  # owner/name
    commits: dict[str, Commit] = field(default_factory=dict)
    head: str = ""

    def resolve(self, ref: str) -> Commit | None:
        """The commit a branch name or (abbreviated) commit id names."""
        if ref in (BRANCH, "HEAD", f"refs/heads/{BRANCH}"):
            return self.commits.get(self.head)
        if not _SHA.fullmatch(ref):
            return None
        found = [c for sha, c in self.commits.items() if sha.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def ancestry(self, commit: Commit) -> list[Commit]:
        """``commit`` and its ancestors, newest first."""
        out = [commit]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out


def file_changes(old: dict[str, str], new: dict[str, str]) -> list[tuple[str, str, str]]:
    """(path, status, patch) of each file that differs between two trees, as GitHub
    shows them: ``added``, ``modified`` or ``removed`` and the unified diff's hunks
    (without the ``---``/``+++`` lines)."""
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) == new.get(path):
            continue
        status = "added" if path not in old else "removed" if path not in new else "modified"
        lines = difflib.unified_diff(
            old.get(path, "").splitlines(), new.get(path, "").splitlines(), lineterm="", n=3
        )
        patch = "\n".join(line for line in lines if not line.startswith(("---", "+++")))
        out.append((path, status, patch))
    return out


class GithubApiDouble:
    """Serves the repositories :meth:`push` writes (loopback, plain HTTP)."""

    def __init__(self, host: str, port: int, token: str, rate_limit: int = 5000) -> None:
        if not token:
            raise ActionError(
                "--github-api-serve needs the token the github plugin sends (its "
                "secretsDir/github.token: --github-token-file, or GITHUB_PLUGIN_TOKEN)"
            )
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ActionError(
                f"--github-api-serve {host}:{port}: loopback only (it serves plain HTTP; "
                "the github plugin sends its token there)"
            )
        self.token = token
        self.rate_limit = rate_limit
        self.used = 0
        self.reset = int(time.time()) + 3600
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []  # "GET /path", in order
        self._lock = threading.Lock()
        self._count = 0
        handler = type("Handler", (_Handler,), {"double": self})
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ActionError(f"--github-api-serve {host}:{port}: {exc}") from None
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def push(self, repo: str, files: dict[str, str], author: str, message: str) -> tuple[str, str]:
        """A commit on ``repo``'s branch writing ``files`` (path -> content): the
        (before, after) commit ids a push delivery names. A new repository gets an
        initial commit first, so ``before`` is never the null commit."""
        with self._lock:
            r = self.repos.setdefault(repo, Repo(repo))
            if not r.head:
                r.head = self._commit(r, {"README.md": f"# {repo}\n"}, author, "Initial commit")
            before = r.head
            tree = {**r.commits[before].tree, **files}
            r.head = self._commit(r, tree, author, message)
            return before, r.head

    def _commit(self, r: Repo, tree: dict[str, str], author: str, message: str) -> str:
        self._count += 1
        seed = json.dumps([r.head, sorted(tree.items()), author, message, self._count])
        sha = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        r.commits[sha] = Commit(sha, r.head or None, message, author, date, dict(tree))
        return sha

    # the answers, as GitHub shapes them

    def commit_doc(self, r: Repo, c: Commit) -> Doc:
        api, html = f"{self.url}/repos/{r.name}", f"https://github.com/{r.name}"
        person = {"name": c.author, "email": f"{c.author}@users.noreply.github.com",
                  "date": c.date}  # fmt: skip
        tree = hashlib.sha1(
            json.dumps(sorted(c.tree.items())).encode(), usedforsecurity=False
        ).hexdigest()
        parents = [] if c.parent is None else [c.parent]
        return {
            "sha": c.sha, "url": f"{api}/commits/{c.sha}", "html_url": f"{html}/commit/{c.sha}",
            "commit": {"author": person, "committer": person, "message": c.message,
                       "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
                       "comment_count": 0},
            "author": None, "committer": None,
            "parents": [{"sha": p, "url": f"{api}/commits/{p}",
                         "html_url": f"{html}/commit/{p}"} for p in parents],
        }  # fmt: skip

    def files_doc(self, r: Repo, old: Commit | None, new: Commit) -> list[Doc]:
        api, html = f"{self.url}/repos/{r.name}", f"https://github.com/{r.name}"
        out = []
        for path, status, patch in file_changes(old.tree if old else {}, new.tree):
            added = sum(1 for ln in patch.splitlines() if ln.startswith("+"))
            removed = sum(1 for ln in patch.splitlines() if ln.startswith("-"))
            out.append({
                "sha": blob_sha(new.tree.get(path, "")), "filename": path, "status": status,
                "additions": added, "deletions": removed, "changes": added + removed,
                "blob_url": f"{html}/blob/{new.sha}/{path}",
                "raw_url": f"{html}/raw/{new.sha}/{path}",
                "contents_url": f"{api}/contents/{path}?ref={new.sha}", "patch": patch,
            })  # fmt: skip
        return out

    def compare(self, r: Repo, basehead: str) -> Doc | None:
        base_ref, sep, head_ref = basehead.partition("...")
        if not sep:
            base_ref, sep, head_ref = basehead.partition("..")
        base, head = r.resolve(base_ref), r.resolve(head_ref)
        if not sep or base is None or head is None:
            return None
        line = r.ancestry(head)
        if base in line:
            between = list(reversed(line[: line.index(base)]))
            status = "identical" if base is head else "ahead"
            files = self.files_doc(r, base, head)
        else:  # head is an ancestor of base (one branch: never diverged)
            between, status, files = [], "behind", []
        behind = 0 if base in line else r.ancestry(base).index(head)
        html = f"https://github.com/{r.name}/compare/{basehead}"
        return {
            "url": f"{self.url}/repos/{r.name}/compare/{basehead}", "html_url": html,
            "permalink_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
            "base_commit": self.commit_doc(r, base), "merge_base_commit": self.commit_doc(
                r, base if base in line else head),
            "status": status, "ahead_by": len(between), "behind_by": behind,
            "total_commits": len(between), "commits": [self.commit_doc(r, c) for c in between],
            "files": files,
        }  # fmt: skip

    def commit(self, r: Repo, ref: str) -> Doc | None:
        c = r.resolve(ref)
        if c is None:
            return None
        parent = r.commits[c.parent] if c.parent else None
        files = self.files_doc(r, parent, c)
        adds, dels = sum(f["additions"] for f in files), sum(f["deletions"] for f in files)
        stats = {"total": adds + dels, "additions": adds, "deletions": dels}
        return {**self.commit_doc(r, c), "stats": stats, "files": files}

    def contents(self, r: Repo, path: str, ref: str) -> Doc | None:
        c = r.resolve(ref)
        if c is None or path not in c.tree:
            return None
        data = c.tree[path].encode()
        encoded = base64.encodebytes(data).decode()  # GitHub's 60-column lines
        api, html = f"{self.url}/repos/{r.name}", f"https://github.com/{r.name}"
        sha = blob_sha(c.tree[path])
        links = {"self": f"{api}/contents/{path}?ref={ref}", "git": f"{api}/git/blobs/{sha}",
                 "html": f"{html}/blob/{ref}/{path}"}  # fmt: skip
        return {
            "type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/")[-1],
            "path": path, "content": encoded, "sha": sha, "url": links["self"],
            "git_url": links["git"], "html_url": links["html"],
            "download_url": f"https://raw.githubusercontent.com/{r.name}/{ref}/{path}",
            "_links": links,
        }  # fmt: skip

    def answer(self, method: str, target: str, headers: Any) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON body and extra headers for one request."""
        parts = urlsplit(target)
        with self._lock:
            self.requests.append(f"{method} {parts.path}")
        if not headers.get("User-Agent"):
            return 403, {"message": "Requests must carry a User-Agent header",
                         "documentation_url": DOCS}, {}  # fmt: skip
        version = headers.get("X-GitHub-Api-Version")
        if version not in (None, API_VERSION):
            return 400, {"message": f"API version {version} is not supported.",
                         "documentation_url": DOCS}, {}  # fmt: skip
        scheme, _, credential = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or credential.strip() != self.token:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS,
                         "status": "401"}, {}  # fmt: skip
        with self._lock:
            spent = self.used >= self.rate_limit
            self.used += 0 if spent else 1
            limits = {"x-ratelimit-limit": str(self.rate_limit),
                      "x-ratelimit-remaining": str(self.rate_limit - self.used),
                      "x-ratelimit-used": str(self.used), "x-ratelimit-reset": str(self.reset),
                      "x-ratelimit-resource": "core"}  # fmt: skip
            if spent:
                return 403, {"message": "API rate limit exceeded for this token.",
                             "documentation_url": DOCS}, limits  # fmt: skip
            if method != "GET":
                return 404, {"message": "Not Found", "documentation_url": DOCS}, limits
            found = self._route(parts.path, parse_qs(parts.query))
        if found is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, limits
        return 200, found, limits

    def _route(self, path: str, query: dict[str, list[str]]) -> Doc | None:
        pieces = path.split("/", 5)  # '', repos, owner, name, kind, rest
        if len(pieces) != 6 or pieces[1] != "repos" or not pieces[5]:
            return None
        r = self.repos.get(f"{unquote(pieces[2])}/{unquote(pieces[3])}")
        kind, rest = pieces[4], unquote(pieces[5])
        if r is None:
            return None
        if kind == "compare":
            return self.compare(r, rest)
        if kind == "commits":
            return self.commit(r, rest)
        if kind == "contents":
            return self.contents(r, rest, query.get("ref", [BRANCH])[0])
        return None


class _Handler(BaseHTTPRequestHandler):
    double: GithubApiDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, doc, headers = self.double.answer(self.command, self.path, self.headers)
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve
