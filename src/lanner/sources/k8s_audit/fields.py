"""The ``ka.*`` fields of Kubernetes audit events.

Semantics follow falcosecurity/plugins ``plugins/k8saudit/pkg/k8saudit/extract.go`` and
``fields.go``: every field is a string (non-strings print as compact JSON), list fields
return all values (an empty list is no value), index arguments pick one container,
volume or role rule, and events without an ``auditID`` have no ``ka.*`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lanner.engine.fields import ArgKind, Field
from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.fieldkit import Getter, list_or_none, plain, with_arg
from lanner.sources.json_source.pointer import MISSING as NA
from lanner.sources.k8s_audit.values import (
    at,
    collect,
    image_repository,
    texts_skip_missing,
    texts_strict,
)

DocFn = Callable[[dict[str, Any]], Any]
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")
_SPEC = ("requestObject", "spec")


def _audit(fn: DocFn) -> Getter:
    """Run ``fn`` on the event's JSON object when it is an audit event."""

    def get(event: Any) -> Any:
        doc = event.data
        if type(doc) is not dict or "auditID" not in doc:
            return None
        return fn(doc)

    return get


def _text_at(*keys: str) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        v = at(doc, keys)
        if v is NA:
            return None
        return v if type(v) is str else as_text(v)

    return fn


def _list_at(*keys: str) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        v = at(doc, keys)
        if type(v) is not list:
            return None
        return list_or_none([x if type(x) is str else as_text(x) for x in v])

    return fn


def _s(name: str, desc: str, how: DocFn | tuple[str, ...]) -> Field:
    """A string field: a key path (the common case, one fast closure) or a DocFn."""
    return plain(name, desc, _fast_text(how) if isinstance(how, tuple) else _audit(how))


def _fast_text(keys: tuple[str, ...]) -> Getter:
    """``_audit(_text_at(*keys))`` in a single function, for the hot one/two-key fields."""
    if len(keys) == 1:
        (k0,) = keys

        def get1(event: Any) -> Any:
            doc = event.data
            if type(doc) is not dict or "auditID" not in doc:
                return None
            v = doc.get(k0, NA)
            if v is NA:
                return None
            return v if type(v) is str else as_text(v)

        return get1
    if len(keys) == 2:
        k0, k1 = keys

        def get2(event: Any) -> Any:
            doc = event.data
            if type(doc) is not dict or "auditID" not in doc:
                return None
            v = doc.get(k0)
            if type(v) is not dict:
                return None
            v = v.get(k1, NA)
            if v is NA:
                return None
            return v if type(v) is str else as_text(v)

        return get2
    return _audit(_text_at(*keys))


def _l(name: str, desc: str, fn: DocFn) -> Field:
    return plain(name, desc, _audit(fn), is_list=True)


def _indexed(name: str, desc: str, make: Callable[[int | None], DocFn]) -> Field:
    """A list field with an optional numeric index argument."""
    return with_arg(
        name,
        desc,
        lambda arg: _audit(make(arg)),
        kind=ArgKind.INDEX,
        required=False,
        is_list=True,
    )


def _keyed(name: str, desc: str, make: Callable[[str], DocFn]) -> Field:
    """A string field with a required key argument."""
    return with_arg(name, desc, lambda arg: _audit(make(str(arg))), kind=ArgKind.KEY, required=True)


# -- per-field logic -----------------------------------------------------------------------


def _collected(*keys: str, strict: bool = False) -> Callable[[int | None], DocFn]:
    def make(index: int | None) -> DocFn:
        def fn(doc: dict[str, Any]) -> Any:
            vals = collect(doc, index, keys)
            if vals is NA:
                return None
            return list_or_none(texts_strict(vals) if strict else texts_skip_missing(vals))

        return fn

    return make


def _flattened(*keys: str) -> Callable[[int | None], DocFn]:
    """Values that are arrays per element (rules' verbs, capabilities), flattened."""

    def make(index: int | None) -> DocFn:
        def fn(doc: dict[str, Any]) -> Any:
            vals = collect(doc, index, keys)
            if vals is NA:
                return None
            out: list[str] = []
            for v in vals:
                if type(v) is list:
                    out.extend(texts_skip_missing(v))
            return list_or_none(out)

        return fn

    return make


def _repositories(kind: str) -> Callable[[int | None], DocFn]:
    images = _collected(*_SPEC, kind, "image", strict=True)

    def make(index: int | None) -> DocFn:
        get = images(index)
        return lambda doc: None if (v := get(doc)) is None else [image_repository(i) for i in v]

    return make


def _effective(kind: str, key: str) -> Callable[[int | None], DocFn]:
    def make(index: int | None) -> DocFn:
        def fn(doc: dict[str, Any]) -> Any:
            pod = at(doc, (*_SPEC, "securityContext", key))
            default = "0" if pod is NA else (pod if type(pod) is str else as_text(pod))
            vals = collect(doc, index, (*_SPEC, kind, "securityContext", key))
            if vals is NA:
                return None
            return list_or_none(
                [default if v is NA else (v if type(v) is str else as_text(v)) for v in vals]
            )

        return fn

    return make


def _host_ports(kind: str) -> Callable[[int | None], DocFn]:
    def make(index: int | None) -> DocFn:
        def fn(doc: dict[str, Any]) -> Any:
            per_container = collect(doc, index, (*_SPEC, kind, "ports"))
            if per_container is NA:
                return None
            out: list[str] = []
            for ports in per_container:
                if ports is NA:
                    continue
                if type(ports) is not list:
                    return None
                for port in ports:
                    if type(port) is not dict:
                        continue
                    p = port.get("hostPort", NA)
                    if p is NA:
                        p = port.get("containerPort", NA)
                    if p is not NA:
                        out.append(as_text(p))
            return list_or_none(out)

        return fn

    return make


def _volume_types(index: int | None) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        vols = collect(doc, index, (*_SPEC, "volumes", ""))
        if vols is NA:
            return None
        return list_or_none([k for v in vols if type(v) is dict for k in v if k != "name"])

    return fn


def _source_ips(index: int | None) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        ips = doc.get("sourceIPs")
        if type(ips) is not list:
            return None
        if index is not None:
            ips = ips[index : index + 1]
        return list_or_none(texts_skip_missing(ips))

    return fn


def _uri_param(key: str) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        uri = doc.get("requestURI")
        if uri is None:
            return None
        try:
            query = parse_qs(urlsplit(as_text(uri)).query, keep_blank_values=True)
        except ValueError:
            return None
        values = query.get(key)
        return values[0] if values else None

    return fn


def _volume_hostpath(arg: str) -> DocFn:
    prefix = arg[:-1] if arg.endswith("*") else None

    def fn(doc: dict[str, Any]) -> Any:
        vals = collect(doc, None, (*_SPEC, "volumes", "hostPath", "path"))
        if vals is NA:
            return None
        for path in texts_skip_missing(vals):
            if (prefix is not None and path.startswith(prefix)) or path == arg:
                return "true"
        return "false"

    return fn


def _any_privileged(doc: dict[str, Any]) -> Any:
    vals = collect(doc, None, (*_SPEC, "containers", "securityContext", "privileged"))
    if vals is NA:
        return None
    return "true" if any(v is True for v in vals) else "false"


def _first(make: Callable[[int | None], DocFn]) -> DocFn:
    get = make(0)
    return lambda doc: None if (v := get(doc)) is None else v[0]


def _subjects(kind: str, with_ns: bool = False) -> DocFn:
    def fn(doc: dict[str, Any]) -> Any:
        subjects = at(doc, ("requestObject", "subjects"))
        if type(subjects) is not list:
            return None
        out = []
        for s in subjects:
            if type(s) is dict and s.get("kind") == kind and "name" in s:
                name = as_text(s["name"])
                out.append(f"{as_text(s.get('namespace', ''))}:{name}" if with_ns else name)
        return list_or_none(out)

    return fn


# -- the table -------------------------------------------------------------------------------


def _container_fields(kind: str) -> list[Field]:
    what = {
        "containers": "containers",
        "initContainers": "init containers",
        "ephemeralContainers": "ephemeral containers",
    }[kind]
    p = f"ka.req.pod.{kind}"
    sc = (*_SPEC, kind, "securityContext")
    return [
        _indexed(f"{p}.name", f"the {what}' names", _collected(*_SPEC, kind, "name")),
        _indexed(
            f"{p}.image", f"the {what}' images", _collected(*_SPEC, kind, "image", strict=True)
        ),
        _indexed(f"{p}.image.repository", f"the {what}' image repositories", _repositories(kind)),
        _indexed(
            f"{p}.command",
            f"the {what}' commands (JSON arrays)",
            _collected(*_SPEC, kind, "command"),
        ),
        _indexed(f"{p}.args", f"the {what}' args (JSON arrays)", _collected(*_SPEC, kind, "args")),
        _indexed(f"{p}.privileged", f"the {what}' privileged flags", _collected(*sc, "privileged")),
        _indexed(
            f"{p}.allow_privilege_escalation",
            f"the {what}' allowPrivilegeEscalation",
            _collected(*sc, "allowPrivilegeEscalation"),
        ),
        _indexed(
            f"{p}.read_only_fs",
            f"the {what}' readOnlyRootFilesystem flags",
            _collected(*sc, "readOnlyRootFilesystem"),
        ),
        _indexed(f"{p}.run_as_user", f"the {what}' runAsUser", _collected(*sc, "runAsUser")),
        _indexed(f"{p}.run_as_group", f"the {what}' runAsGroup", _collected(*sc, "runAsGroup")),
        _indexed(
            f"{p}.eff_run_as_user",
            f"the uid the {what} start with (pod default, else 0)",
            _effective(kind, "runAsUser"),
        ),
        _indexed(
            f"{p}.eff_run_as_group",
            f"the gid the {what} start with (pod default, else 0)",
            _effective(kind, "runAsGroup"),
        ),
        _indexed(f"{p}.proc_mount", f"the {what}' procMount types", _collected(*sc, "procMount")),
        _indexed(
            f"{p}.add_capabilities",
            f"the capabilities the {what} add",
            _flattened(*sc, "capabilities", "add"),
        ),
        _indexed(
            f"{p}.host_port", f"the {what}' hostPort (else containerPort) values", _host_ports(kind)
        ),
    ]


def ka_fields() -> list[Field]:
    """Every ``ka.*`` field."""
    ann = "annotations"
    ro = "requestObject"
    fields = [
        _s("ka.auditid", "the unique id of the audit event", ("auditID",)),
        _s("ka.stage", "stage of the request (ResponseComplete...)", ("stage",)),
        _s(
            "ka.auth.decision",
            "the authorization decision",
            (ann, "authorization.k8s.io/decision"),
        ),
        _s(
            "ka.auth.reason",
            "the authorization reason",
            (ann, "authorization.k8s.io/reason"),
        ),
        _s(
            "ka.validations.admission.policy.failure",
            "the validation failure of a ValidatingAdmissionPolicy",
            (ann, "validation.policy.admission.k8s.io/validation_failure"),
        ),
        _s(
            "ka.security.pod.violations",
            "the pod security admission violations",
            (ann, "pod-security.kubernetes.io/audit-violations"),
        ),
        _s("ka.user.name", "the user name performing the request", ("user", "username")),
        _l("ka.user.groups", "the groups of the user", _list_at("user", "groups")),
        _s(
            "ka.impuser.name",
            "the impersonated user name",
            ("impersonatedUser", "username"),
        ),
        _s("ka.verb", "the action being performed", ("verb",)),
        _s("ka.uri", "the request URI as sent from client to server", ("requestURI",)),
        _keyed("ka.uri.param", "a query parameter of the uri: ka.uri.param[key]", _uri_param),
        _s("ka.target.name", "the target object name", ("objectRef", "name")),
        _s("ka.target.namespace", "the target object namespace", ("objectRef", "namespace")),
        _s("ka.target.resource", "the target object resource", ("objectRef", "resource")),
        _s(
            "ka.target.subresource",
            "the target object subresource",
            ("objectRef", "subresource"),
        ),
        _l(
            "ka.req.binding.subjects",
            "the subjects a (cluster) role binding links",
            _list_at(ro, "subjects"),
        ),
        _l("ka.req.binding.subjects.user_names", "the User subjects' names", _subjects("User")),
        _l(
            "ka.req.binding.subjects.serviceaccount_names",
            "the ServiceAccount subjects' names",
            _subjects("ServiceAccount"),
        ),
        _l(
            "ka.req.binding.subjects.serviceaccount_ns_names",
            "the ServiceAccount subjects as namespace:name",
            _subjects("ServiceAccount", with_ns=True),
        ),
        _l("ka.req.binding.subjects.group_names", "the Group subjects' names", _subjects("Group")),
        _s(
            "ka.req.binding.role",
            "the role a (cluster) role binding links",
            (ro, "roleRef", "name"),
        ),
        _keyed(
            "ka.req.binding.subject.has_name",
            "deprecated, always true",
            lambda _k: lambda _d: "true",
        ),
        _s("ka.req.configmap.name", "the configmap name", ("objectRef", "name")),
        _s("ka.req.configmap.obj", "the configmap's data", (ro, "data")),
        _s(
            "ka.req.container.image",
            "deprecated: the first container's image",
            _first(_collected(*_SPEC, "containers", "image", strict=True)),
        ),
        _s(
            "ka.req.container.image.repository",
            "deprecated: the first container's repository",
            _first(_repositories("containers")),
        ),
        _s(
            "ka.req.container.privileged",
            "deprecated: true if any container is privileged",
            _any_privileged,
        ),
        _s("ka.req.pod.host_ipc", "the pod's hostIPC flag", (*_SPEC, "hostIPC")),
        _s("ka.req.pod.host_network", "the pod's hostNetwork flag", (*_SPEC, "hostNetwork")),
        _s(
            "ka.req.container.host_network",
            "deprecated alias for ka.req.pod.host_network",
            (*_SPEC, "hostNetwork"),
        ),
        _s("ka.req.pod.host_pid", "the pod's hostPID flag", (*_SPEC, "hostPID")),
        _s(
            "ka.req.pod.run_as_user",
            "the pod's runAsUser",
            (*_SPEC, "securityContext", "runAsUser"),
        ),
        _s(
            "ka.req.pod.run_as_group",
            "the pod's runAsGroup",
            (*_SPEC, "securityContext", "runAsGroup"),
        ),
        _s(
            "ka.req.pod.fs_group",
            "the pod's fsGroup",
            (*_SPEC, "securityContext", "fsGroup"),
        ),
        _l(
            "ka.req.pod.supplemental_groups",
            "the pod's supplementalGroups",
            _list_at(*_SPEC, "securityContext", "supplementalGroups"),
        ),
        _l("ka.req.role.rules", "the rules of a (cluster) role", _list_at(ro, "rules")),
        _s("ka.req.service.type", "the service type", (*_SPEC, "type")),
        _indexed("ka.req.service.ports", "the service's ports", _collected(*_SPEC, "ports", "")),
        _indexed(
            "ka.req.pod.volumes.hostpath",
            "the hostPath paths of the pod's volumes",
            _collected(*_SPEC, "volumes", "hostPath", "path"),
        ),
        _keyed(
            "ka.req.volume.hostpath",
            "deprecated: true if a hostPath volume is the path "
            "(or starts with it, when the argument ends with *)",
            _volume_hostpath,
        ),
        _indexed(
            "ka.req.pod.volumes.flexvolume_driver",
            "the flexVolume drivers of the volumes",
            _collected(*_SPEC, "volumes", "flexVolume", "driver"),
        ),
        _indexed(
            "ka.req.pod.volumes.volume_type", "the volume types of the pod's volumes", _volume_types
        ),
        _s(
            "ka.resp.name",
            "the response object name",
            ("responseObject", "metadata", "name"),
        ),
        _s("ka.response.code", "the response code", ("responseStatus", "code")),
        _s("ka.response.reason", "the response reason", ("responseStatus", "reason")),
        _s("ka.useragent", "the client's user agent", ("userAgent",)),
        _indexed("ka.sourceips", "the client's IP addresses", _source_ips),
    ]
    for rule_key in ("apiGroups", "nonResourceURLs", "verbs", "resources"):
        fields.append(
            _indexed(
                f"ka.req.role.rules.{rule_key}",
                f"the {rule_key} of the role's rules",
                _flattened(ro, "rules", rule_key),
            )
        )
    for kind in CONTAINER_KINDS:
        fields.extend(_container_fields(kind))
    return fields
