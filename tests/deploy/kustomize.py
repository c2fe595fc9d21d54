"""A small kustomize renderer for the tests: what deploy/kubernetes uses, and nothing more.

Neither Debian nor PyPI ships the kustomize binary, so the tests render the overlays with
this: a kustomization's ``resources`` (YAML files, or directories holding a
kustomization.yaml), ``patches`` with a ``target`` (kind, name, optionally namespace,
group, version) and an RFC 6902 JSON patch given inline (``patch``) or in a file under the
kustomization's directory (``path``), and ``images`` (``newName``, ``newTag``, ``digest``).
Any other key is an error, so a kustomization using a feature this renderer lacks fails
the tests instead of rendering wrongly. When ``kubectl`` is on the PATH the tests also
compare this output with ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images"}
Resource = dict[str, Any]


class KustomizeError(Exception):
    """A kustomization this renderer cannot (or kustomize would not) render."""


def _load_yaml_docs(path: Path) -> list[Resource]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KustomizeError(f"{path}: not a Kubernetes object: {str(doc)[:80]}")
    return docs


def _inside(root: Path, path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise KustomizeError(f"{path}: outside the kustomization root {root} (load restrictor)")
    return resolved


def key(res: Resource) -> tuple[str, str, str, str]:
    """What identifies an object: apiVersion's group, kind, namespace, name."""
    group = res["apiVersion"].rpartition("/")[0]
    meta = res.get("metadata") or {}
    return (group, res["kind"], meta.get("namespace") or "", meta.get("name") or "")


def render(directory: str | Path) -> list[Resource]:
    """The objects of the kustomization in ``directory``, patched, in resource order."""
    root = Path(directory)
    kfile = root / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"{root}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported keys {sorted(unknown)}")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{kfile}: kind {spec.get('kind')!r}")
    out: list[Resource] = []
    seen: set[tuple[str, str, str, str]] = set()
    for entry in spec.get("resources") or []:
        path = root / entry
        docs = render(path) if path.is_dir() else _load_yaml_docs(_inside(root, path))
        for doc in docs:
            if key(doc) in seen:
                raise KustomizeError(f"{kfile}: {key(doc)} defined twice")
            seen.add(key(doc))
            out.append(doc)
    for patch in spec.get("patches") or []:
        _apply_patch(root, kfile, patch, out)
    for image in spec.get("images") or []:
        _set_image(image, out)
    return out


def _matches(target: dict[str, Any], res: Resource) -> bool:
    group, kind, namespace, name = key(res)
    version = res["apiVersion"].rpartition("/")[2]
    checks = {
        "kind": kind,
        "name": name,
        "namespace": namespace,
        "group": group,
        "version": version,
    }
    for field, value in target.items():
        if field not in checks:
            raise KustomizeError(f"unsupported patch target field {field!r}")
        if checks[field] != value:
            return False
    return True


def _apply_patch(root: Path, kfile: Path, patch: dict[str, Any], out: list[Resource]) -> None:
    if set(patch) - {"target", "patch", "path"} or ("patch" in patch) == ("path" in patch):
        raise KustomizeError(f"{kfile}: a patch needs target and one of patch/path: {patch}")
    text = patch["patch"] if "patch" in patch else _inside(root, root / patch["path"]).read_text()
    ops = yaml.safe_load(text)
    if not isinstance(ops, list):
        raise KustomizeError(f"{kfile}: only JSON 6902 patches (a list of operations)")
    hits = [i for i, r in enumerate(out) if _matches(patch.get("target") or {}, r)]
    if not hits:
        raise KustomizeError(f"{kfile}: patch target {patch.get('target')} matches nothing")
    for i in hits:
        out[i] = json_patch(out[i], ops)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, insert: bool) -> int:
    if token == "-" and insert:
        return len(container)
    if not token.isdigit():
        raise KustomizeError(f"{path}: {token!r} is not a list index")
    index = int(token)
    if index > len(container) or (index == len(container) and not insert):
        raise KustomizeError(f"{path}: index {index} out of range")
    return index


def json_patch(doc: Resource, ops: list[dict[str, Any]]) -> Resource:
    """RFC 6902 add, remove, replace and test, applied in order to a copy of ``doc``."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        tokens = _pointer(path)
        parent: Any = doc
        for token in tokens[:-1]:
            if isinstance(parent, list):
                parent = parent[_index(parent, token, path, insert=False)]
            elif isinstance(parent, dict) and token in parent:
                parent = parent[token]
            else:
                raise KustomizeError(f"{path}: {token!r} does not exist")
        last = tokens[-1]
        if kind == "add":
            if isinstance(parent, list):
                parent.insert(_index(parent, last, path, insert=True), op["value"])
            else:
                parent[last] = op["value"]
        elif kind in ("replace", "remove", "test"):
            if isinstance(parent, list):
                idx: Any = _index(parent, last, path, insert=False)
            elif last in parent:
                idx = last
            else:
                raise KustomizeError(f"{path}: nothing to {kind}")
            if kind == "replace":
                parent[idx] = op["value"]
            elif kind == "remove":
                del parent[idx]
            elif parent[idx] != op["value"]:
                raise KustomizeError(f"{path}: test failed")
        else:
            raise KustomizeError(f"unsupported JSON patch op {kind!r}")
    return doc


def _containers(res: Resource) -> list[dict[str, Any]]:
    spec = res.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    if res["kind"] == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _set_image(image: dict[str, Any], out: list[Resource]) -> None:
    name = image["name"]
    for res in out:
        for container in _containers(res):
            ref = container.get("image", "")
            base, tag, digest = ref, "", ""
            if "@" in base:
                base, digest = base.split("@", 1)
            if ":" in base.rpartition("/")[2]:
                base, tag = base.rsplit(":", 1)
            if base != name:
                continue
            base = image.get("newName", base)
            tag = image.get("newTag", tag)
            if image.get("digest"):
                container["image"] = f"{base}@{image['digest']}"
            else:
                container["image"] = (
                    base
                    + (f":{tag}" if tag else "")
                    + (f"@{digest}" if digest and "newTag" not in image else "")
                )
