"""``lanner artifact``: falcoctl's artifact commands (search, info, install, follow,
list) and push/sign for a team's own rules."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from lanner.exceptions import ArtifactError
from lanner.services.artifact.config import ArtifactConfig, load_config
from lanner.services.artifact.follow import Follower
from lanner.services.artifact.index import Indexes, IndexSource
from lanner.services.artifact.install import Installer, InstallOptions, pack
from lanner.services.artifact.refs import parse_ref
from lanner.services.artifact.registry import MEDIA_TYPES, RegistryClient
from lanner.services.artifact.requirements import EngineVersions

log = logging.getLogger("lanner.artifact")


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command shares (falcoctl's names, and Lanner's TLS/auth)."""
    options = [
        click.option("--config", "config_path", help="falcoctl.yaml to read."),
        click.option(
            "--index",
            "index_opts",
            multiple=True,
            metavar="NAME=URL",
            help="An index (repeatable), besides the configuration's.",
        ),
        click.option("--plain-http", is_flag=True, help="Talk to registries over HTTP."),
        click.option("--ca-file", help="CA bundle for the registries' TLS certificates."),
        click.option("--username", help="Basic auth user for the registry."),
        click.option(
            "--password",
            envvar="LANNER_ARTIFACT_PASSWORD",
            help="Basic auth password (or LANNER_ARTIFACT_PASSWORD).",
        ),
        click.option(
            "--token",
            envvar="LANNER_ARTIFACT_TOKEN",
            help="Bearer token for the registry (or LANNER_ARTIFACT_TOKEN).",
        ),
        click.option("--docker-config", help="A docker config.json with registry auths."),
    ]
    for opt in reversed(options):
        fn = opt(fn)

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        cfg = load_config(kw.pop("config_path"))
        for item in kw.pop("index_opts"):
            name, _, url = item.partition("=")
            if not url:
                raise ArtifactError(f"--index {item!r}: expected NAME=URL")
            cfg.indexes.insert(0, IndexSource(name, url))
        plain = kw.pop("plain_http")
        ca, user, pw, tok = (
            kw.pop("ca_file"),
            kw.pop("username"),
            kw.pop("password"),
            kw.pop("token"),
        )
        docker = kw.pop("docker_config")
        if docker:
            cfg.docker_config = docker
        base = cfg.access

        def access(registry: str) -> Any:
            import dataclasses

            a = base(registry, plain_http=plain)
            return dataclasses.replace(
                a,
                ca_file=ca or a.ca_file,
                username=user if user is not None else a.username,
                password=pw if user is not None else a.password,
                token=tok or a.token,
            )

        return fn(cfg=cfg, access=access, **kw)

    return wrapper


def _run(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Errors as one ``Error:`` line and exit status 1, as falcoctl."""

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            return fn(**kw)
        except ArtifactError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def _installer(cfg: ArtifactConfig, access: Any, rules_dir: str | None, **kw: Any) -> Installer:
    opts = InstallOptions(
        rulesfiles_dir=Path(rules_dir or cfg.rulesfiles_dir),
        state_dir=Path(kw["state_dir"]) if kw.get("state_dir") else
        (Path(cfg.state_dir) if cfg.state_dir else None),
        allowed_types=frozenset(kw["allowed_types"]) if kw.get("allowed_types")
        else cfg.allowed_types,
        resolve_deps=kw.get("resolve_deps", cfg.resolve_deps),
        verify_key=kw.get("verify_key") or cfg.verify_key,
    )  # fmt: skip
    indexes = Indexes.fetch(cfg.indexes) if cfg.indexes else Indexes()
    return Installer(indexes, opts, access)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def artifact() -> None:
    """Rules artifacts in OCI registries (falcoctl's artifact commands)."""


@artifact.command()
@click.argument("words", nargs=-1, required=True)
@_common
@_run
def search(cfg: ArtifactConfig, access: Any, words: tuple[str, ...]) -> None:
    """Artifacts of the indexes whose name, description or keywords have every WORD."""
    rows = [e for e in Indexes.fetch(cfg.indexes).entries if e.matches(list(words))]
    click.echo(f"{'INDEX':<16}{'ARTIFACT':<24}{'TYPE':<12}{'REGISTRY':<24}REPOSITORY")
    for e in rows:
        click.echo(f"{e.index:<16}{e.name:<24}{e.type:<12}{e.registry:<24}{e.repository}")


@artifact.command()
@click.argument("refs", nargs=-1, required=True)
@_common
@_run
def info(cfg: ArtifactConfig, access: Any, refs: tuple[str, ...]) -> None:
    """The tags of each artifact."""
    indexes = Indexes.fetch(cfg.indexes) if cfg.indexes else Indexes()
    click.echo(f"{'REF':<56}TAGS")
    for text in refs:
        ref = indexes.resolve(parse_ref(text))
        tags = RegistryClient(ref.registry, access(ref.registry)).tags(ref.repository)
        click.echo(f"{ref.registry + '/' + ref.repository:<56}{' '.join(sorted(tags))}")


@artifact.command(name="list")
@click.option("--rulesfiles-dir", help="Where rules were installed.")
@click.option("--state-dir", help="Where the install state is kept.")
@_common
@_run
def list_(
    cfg: ArtifactConfig, access: Any, rulesfiles_dir: str | None, state_dir: str | None
) -> None:
    """The artifacts of the indexes, and those installed here."""
    if cfg.indexes:
        click.echo(f"{'INDEX':<16}{'ARTIFACT':<24}{'TYPE':<12}REPOSITORY")
        for e in Indexes.fetch(cfg.indexes).entries:
            click.echo(f"{e.index:<16}{e.name:<24}{e.type:<12}{e.registry}/{e.repository}")
    inst = _installer(cfg, access, rulesfiles_dir, state_dir=state_dir)
    state = inst.state()
    if state:
        click.echo("\nINSTALLED")
        for key, item in sorted(state.items()):
            click.echo(f"{key}  {item.get('version', '')}  {item.get('digest', '')[:19]}  "
                       f"{' '.join(item.get('files', []))}")  # fmt: skip


_INSTALL_OPTS = [
    click.option("--rulesfiles-dir", help="Where rules files go (default /etc/lanner/rules.d)."),
    click.option("--state-dir", help="Where the install state is kept (default: rules dir)."),
    click.option(
        "--allowed-types",
        multiple=True,
        type=click.Choice(["rulesfile", "plugin", "asset"]),
        help="Artifact types allowed (repeatable; default rulesfile).",
    ),
    click.option("--resolve-deps/--no-resolve-deps", default=True, help="Install dependencies."),
    click.option("--verify-key", help="cosign public key: refuse artifacts it did not sign."),
    click.option("--falco-versions", help="A running engine's /versions to check against."),
]


def _install_opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_INSTALL_OPTS):
        fn = opt(fn)
    return fn


@artifact.command()
@click.argument("refs", nargs=-1)
@_install_opts
@_common
@_run
def install(cfg: ArtifactConfig, access: Any, refs: tuple[str, ...], **kw: Any) -> None:
    """Install artifacts (REFS, else artifact.install.refs of the configuration)."""
    targets = list(refs) or cfg.install_refs
    if not targets:
        raise ArtifactError("no artifact to install (give REFS or artifact.install.refs)")
    inst = _installer(cfg, access, kw.pop("rulesfiles_dir"), **kw)
    if kw.get("falco_versions"):
        inst.options.engine = EngineVersions.from_url(kw["falco_versions"], _versions_token())
    for item in inst.install(targets):
        click.echo(f"INFO Artifact {item.ref} ({item.version}, {item.digest[:19]}) installed: "
                   f"{', '.join(item.files)}")  # fmt: skip
        for note in item.notes:
            click.echo(f"     {note}")


@artifact.command()
@click.argument("refs", nargs=-1)
@_install_opts
@click.option("--every", help="Interval between checks (6h, 10m, 30s).")
@click.option("--startup-behavior", type=click.Choice(["immediate", "skip", "jitter"]),
              default="immediate", show_default=True)  # fmt: skip
@click.option("--once", is_flag=True, help="One check, then exit (for cron jobs and tests).")
@click.option("--metrics-address", metavar="HOST:PORT",
              help="Serve the follower's Prometheus metrics here (/metrics).")  # fmt: skip
@_common
@_run
def follow(cfg: ArtifactConfig, access: Any, refs: tuple[str, ...], **kw: Any) -> None:
    """Keep artifacts current: install each new version that verifies and loads."""
    from lanner.services.artifact.config import _duration

    targets = list(refs) or cfg.follow_refs
    if not targets:
        raise ArtifactError("no artifact to follow (give REFS or artifact.follow.refs)")
    every = _duration(kw.pop("every"), "--every") if kw.get("every") else cfg.every
    rules_dir = kw.pop("rulesfiles_dir") or cfg.follow_rulesfiles_dir
    inst = _installer(cfg, access, rules_dir, **kw)
    versions_url = kw.get("falco_versions") or cfg.falco_versions
    fol = Follower(
        inst,
        targets,
        every,
        engine_versions=(lambda: EngineVersions.from_url(versions_url, _versions_token()))
        if versions_url
        else None,
        startup=kw["startup_behavior"],
    )
    if kw["once"]:
        fol.check_once()
        failed = [t for t in targets if t in fol.stats.last_error]
        sys.exit(1 if failed else 0)
    if kw.get("metrics_address"):
        from lanner.services.artifact.follow import serve_metrics

        serve_metrics(fol, kw["metrics_address"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fol.run(stop)


@artifact.command()
@click.argument("ref")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--type", "kind", type=click.Choice(sorted(MEDIA_TYPES)), default="rulesfile",
              show_default=True)  # fmt: skip
@click.option("--version", "version", required=True, help="The artifact's semver version.")
@click.option("--name", help="The artifact name in its config (default: repository's last part).")
@click.option("--depends-on", multiple=True, metavar="NAME:VERSION", help="A dependency.")
@click.option("--requires", multiple=True, metavar="NAME:VERSION",
              help="A requirement (default for rules: their required_engine_version).")  # fmt: skip
@click.option("--add-floating-tags", is_flag=True, help="Also tag MAJOR.MINOR, MAJOR and latest.")
@click.option("--sign-key", help="Sign the pushed digest with this EC private key (PEM).")
@_common
@_run
def push(cfg: ArtifactConfig, access: Any, ref: str, files: tuple[str, ...], **kw: Any) -> None:
    """Push rules files as an artifact falcoctl and Lanner install."""
    target = parse_ref(ref)
    if target.is_name or target.digest:
        raise ArtifactError(f"{ref}: push needs a full reference with a tag (registry/repo:tag)")
    paths = [Path(f) for f in files]
    requires = [_pair(r, "--requires") for r in kw["requires"]] or _engine_requirement(paths)
    config = {
        "name": kw["name"] or target.repository.rsplit("/", 1)[-1],
        "version": kw["version"],
        "dependencies": [{"name": n, "version": v} for n, v in
                         (_pair(d, "--depends-on") for d in kw["depends_on"])],
        "requirements": [{"name": n, "version": v} for n, v in requires],
    }  # fmt: skip
    if paths[0].name.endswith(".tar.gz") and len(paths) == 1:
        layer, layer_name = paths[0].read_bytes(), paths[0].name  # packed already
    else:
        layer, layer_name = pack(paths), paths[0].name + ".tar.gz"
    tags = []
    if kw["add_floating_tags"]:
        parts = kw["version"].split(".")
        tags = [".".join(parts[:2]), parts[0], "latest"]
    client = RegistryClient(target.registry, access(target.registry))
    digest = client.push(target, kw["kind"], config, layer_name, layer, tags)
    if kw["sign_key"]:
        from lanner.services.artifact import signing

        signing.sign(client, target, digest, kw["sign_key"])
    click.echo(json.dumps({"ref": str(target), "digest": digest, "tags": [target.tag, *tags],
                           "signed": bool(kw["sign_key"])}))  # fmt: skip


@artifact.command()
@click.argument("ref")
@click.option("--key", required=True, help="EC private key (PEM, unencrypted PKCS#8).")
@_common
@_run
def sign(cfg: ArtifactConfig, access: Any, ref: str, key: str) -> None:
    """Sign what REF points at now (cosign's signature format)."""
    from lanner.services.artifact import signing

    target = parse_ref(ref)
    client = RegistryClient(target.registry, access(target.registry))
    digest, _ = client.manifest(target)
    signing.sign(client, target, digest, key)
    click.echo(f"signed {target} ({digest})")


def _versions_token() -> str | None:
    """The engine web server's token, for its /versions (as the Helm chart passes it)."""
    return os.environ.get("LANNER_WEBSERVER_TOKEN") or None


def _pair(text: str, flag: str) -> tuple[str, str]:
    name, sep, version = text.partition(":")
    if not sep or not name or not version:
        raise ArtifactError(f"{flag} {text!r}: expected NAME:VERSION")
    return name, version


def _engine_requirement(paths: list[Path]) -> list[tuple[str, str]]:
    """The highest required_engine_version of the rules files, as falcoctl records it."""
    best: tuple[int, ...] | None = None
    for path in paths:
        if path.name.endswith(".tar.gz"):
            continue
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ArtifactError(f"{path}: {exc}") from None
        for item in doc if isinstance(doc, list) else []:
            if isinstance(item, dict) and "required_engine_version" in item:
                raw = str(item["required_engine_version"])
                nums = tuple(int(p) for p in raw.split(".")) if "." in raw else (0, int(raw), 0)
                best = max(best or nums, nums)
    if best is None:
        return []
    return [("engine_version_semver", ".".join(map(str, best)))]
