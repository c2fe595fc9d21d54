"""The ``ct.*``, ``s3.*``, ``ec2.*`` and ``ecr.*`` fields of CloudTrail records.

Semantics follow falcosecurity/plugins ``plugins/cloudtrail/pkg/cloudtrail/extract.go``:
string fields have a value only when the record holds a JSON string there; ``ct.user``
depends on the identity type; ``ct.readonly`` guesses from the event name when the
record has no ``readOnly``; ``ct.info`` is the plugin's one-line summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import Field, FieldType
from lanner.sources.json_source.fieldkit import plain

Doc = dict[str, Any]
N = FieldType.NUMBER
_AMAZONAWS = ".amazonaws.com"
_WRITE_PREFIXES = (
    "Start", "Stop", "Create", "Destroy", "Delete", "Add", "Remove", "Terminate", "Put",
    "Associate", "Disassociate", "Attach", "Detach", "Open", "Close", "Wipe", "Update",
    "Upgrade", "Unlink", "Assign", "Unassign", "Suspend", "Set", "Run", "Register",
    "Deregister", "Reboot", "Purchase", "Modify", "Initialize", "Enable", "Disable", "Cancel",
    "Admin", "Activate",
)  # fmt: skip


def string_at(doc: Any, *keys: str) -> str | None:
    """The JSON string under nested keys (None for a missing or non-string value)."""
    value = doc
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value if type(value) is str else None


def value_at(doc: Any, *keys: str) -> Any:
    """The JSON value under nested object keys, or None."""
    value = doc
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def user(doc: Doc) -> str | None:
    """``ct.user``: the name that fits the identity type."""
    utype = string_at(doc, "userIdentity", "type")
    if utype in ("Root", "IAMUser"):
        return string_at(doc, "userIdentity", "userName")
    if utype == "AWSService":
        return string_at(doc, "userIdentity", "invokedBy")
    if utype == "AssumedRole":
        name = string_at(doc, "userIdentity", "sessionContext", "sessionIssuer", "userName")
        return name if name is not None else "AssumedRole"
    if utype in ("AWSAccount", "FederatedUser"):
        return utype
    return None


def readonly(doc: Doc) -> str | None:
    """``ct.readonly``: readOnly, or a guess from the event name's verb."""
    ro = doc.get("readOnly")
    if ro is True:
        return "true"
    if ro is not None:
        return "false"
    name = string_at(doc, "eventName")
    if name is None:
        return None
    return "false" if name.startswith(_WRITE_PREFIXES) else "true"


def _number(value: Any) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(int(value), 0)
    return 0


def _bytes(doc: Doc, *which: str) -> int | None:
    extra = doc.get("additionalEventData")
    if type(extra) is not dict:
        return None
    present = [extra[k] for k in which if k in extra]
    return sum(_number(v) for v in present) if present else None


def s3_uri(doc: Doc) -> str | None:
    """``s3://bucket/key`` when the request names both."""
    bucket = string_at(doc, "requestParameters", "bucketName")
    key = string_at(doc, "requestParameters", "key")
    if bucket is None or key is None:
        return None
    return f"s3://{bucket}/{key}"


def ec2_name(doc: Doc) -> str | None:
    """The Name tag of the instances a request launches."""
    items = value_at(doc, "requestParameters", "tagSpecificationSet", "items")
    if type(items) is not list:
        return None
    name = ""
    for item in items:
        if type(item) is not dict or item.get("resourceType") != "instance":
            continue
        for tag in item.get("tags") or []:
            if type(tag) is dict and tag.get("key") == "Name":
                name = string_at(tag, "value") or ""
                break
    return name or None


def ec2_image_id(doc: Doc) -> str | None:
    """The image id in the response (the plugin's path, then the instances set)."""
    for path in (("tagSpecificationSet", "items"), ("instancesSet", "items")):
        items = value_at(doc, "responseElements", *path)
        if type(items) is list and items and type(items[0]) is dict:
            image = string_at(items[0], "imageId")
            if image:
                return image
    return None


def info(doc: Doc) -> str:
    """``ct.info``: who, from where, read or write, what, and a detail."""
    who = user(doc)
    if who is None:
        return "<invalid cloudtrail event: userIdentity field missing>"
    src = string_at(doc, "sourceIPAddress")
    if src is None:
        return "<invalid cloudtrail event: eventSource field missing>"
    err = "!" if string_at(doc, "errorCode") is not None else ""
    rw = "→" if readonly(doc) == "false" else "←"
    name = string_at(doc, "eventName")
    if name is None:
        return "<invalid cloudtrail event: eventName field missing>"
    text = f"{who} {err}{rw} {name}" if who == src else f"{who} via {src} {err}{rw} {name}"
    if name == "PutBucketPublicAccessBlock":
        pac = value_at(doc, "requestParameters", "PublicAccessBlockConfiguration")
        if type(pac) is dict:
            flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                     "RestrictPublicBuckets")  # fmt: skip
            text += "".join(f" {f}={'true' if pac.get(f) is True else 'false'}" for f in flags)
            text += " "
        return text
    size = _bytes(doc, "bytesTransferredIn", "bytesTransferredOut")
    if size is not None:
        text += f" Size={size}"
    for label, value in (
        ("URI", s3_uri(doc)),
        ("Bucket", string_at(doc, "requestParameters", "bucketName")),
        ("Key", string_at(doc, "requestParameters", "key")),
        ("Host", string_at(doc, "requestParameters", "Host")),
    ):
        if value is not None:
            return f"{text} {label}={value}"
    return text


def _shortsrc(doc: Doc) -> str | None:
    src = string_at(doc, "eventSource")
    if src is not None and len(src) > len(_AMAZONAWS) and src.endswith(_AMAZONAWS):
        return src[: -len(_AMAZONAWS)]
    return src


def _account(doc: Doc) -> str | None:
    found = string_at(doc, "userIdentity", "accountId")
    return found if found is not None else string_at(doc, "recipientAccountId")


def _on_record(fn: Callable[[Doc], Any]) -> Callable[[Any], Any]:
    def get(event: Any) -> Any:
        doc = event.data
        return fn(doc) if type(doc) is dict else None

    return get


def _at(*keys: str) -> Callable[[Any], Any]:
    def get(event: Any) -> Any:
        return string_at(event.data, *keys)

    return get


def _event_name_is(name: str, then: int, otherwise: int) -> Callable[[Doc], int]:
    return lambda doc: then if string_at(doc, "eventName") == name else otherwise


def ct_fields() -> list[Field]:
    """Every field of the cloudtrail plugin."""
    rp, re_ = "requestParameters", "responseElements"
    strings: list[tuple[str, str, Callable[[Any], Any]]] = [
        ("ct.id", "the unique ID of the event (eventID)", _at("eventID")),
        ("ct.error", "the error code of the event (errorCode), if any", _at("errorCode")),
        ("ct.time", "the timestamp of the event (eventTime)", _at("eventTime")),
        ("ct.src", "the source of the event (eventSource)", _at("eventSource")),
        ("ct.shortsrc", "eventSource without .amazonaws.com", _on_record(_shortsrc)),
        ("ct.name", "the name of the event (eventName)", _at("eventName")),
        ("ct.user", "the user of the event (depends on the identity type)", _on_record(user)),
        ("ct.user.accountid", "the account id of the user", _on_record(_account)),
        ("ct.user.identitytype", "the kind of user identity (Root, IAMUser...)",
         _at("userIdentity", "type")),
        ("ct.user.principalid", "the principal id of the user",
         _at("userIdentity", "principalId")),
        ("ct.user.arn", "the ARN of the user", _at("userIdentity", "arn")),
        ("ct.region", "the region of the event (awsRegion)", _at("awsRegion")),
        ("ct.response.subnetid", "the subnet ID in the response", _at(re_, "subnetId")),
        ("ct.response.reservationid", "the reservation ID in the response",
         _at(re_, "reservationId")),
        ("ct.request.availabilityzone", "the availability zone in the request",
         _at(rp, "availabilityZone")),
        ("ct.request.cluster", "the cluster in the request", _at(rp, "cluster")),
        ("ct.request.functionname", "the function name in the request",
         _at(rp, "functionName")),
        ("ct.request.groupname", "the group name in the request", _at(rp, "groupName")),
        ("ct.request.host", "the host in the request", _at(rp, "Host")),
        ("ct.request.name", "the name of the entity acted on", _at(rp, "name")),
        ("ct.request.policy", "the policy in the request", _at(rp, "policy")),
        ("ct.request.serialnumber", "the serial number in the request", _at(rp, "serialNumber")),
        ("ct.request.servicename", "the service name in the request", _at(rp, "serviceName")),
        ("ct.request.subnetid", "the subnet ID in the request", _at(rp, "subnetId")),
        ("ct.request.taskdefinition", "the task definition in the request",
         _at(rp, "taskDefinition")),
        ("ct.request.username", "the username in the request", _at(rp, "userName")),
        ("ct.srcip", "the IP address of the caller (sourceIPAddress)", _at("sourceIPAddress")),
        ("ct.useragent", "the user agent of the caller (userAgent)", _at("userAgent")),
        ("ct.info", "summary of the event", _on_record(info)),
        ("ct.managementevent", "true for management events",
         _on_record(lambda d: "true" if d.get("managementEvent") is True else "false")),
        ("ct.readonly", "true if the event only reads", _on_record(readonly)),
        ("s3.uri", "the s3 URI (s3://<bucket>/<key>)", _on_record(s3_uri)),
        ("s3.bucket", "the bucket name of s3 events", _at(rp, "bucketName")),
        ("s3.key", "the S3 key name", _at(rp, "key")),
        ("ec2.name", "the Name tag of the ec2 instances launched", _on_record(ec2_name)),
        ("ec2.imageid", "the image ID of the ec2 instance in the response",
         _on_record(ec2_image_id)),
        ("ecr.repository", "the ecr repository in the request", _at(rp, "repositoryName")),
        ("ecr.imagetag", "the image tag in the request", _at(rp, "imageTag")),
    ]  # fmt: skip
    numbers: list[tuple[str, str, Callable[[Doc], Any]]] = [
        ("s3.bytes", "bytes of an s3 upload or download",
         lambda d: _bytes(d, "bytesTransferredIn", "bytesTransferredOut")),
        ("s3.bytes.in", "bytes of an s3 upload", lambda d: _bytes(d, "bytesTransferredIn")),
        ("s3.bytes.out", "bytes of an s3 download", lambda d: _bytes(d, "bytesTransferredOut")),
        ("s3.cnt.get", "1 for GetObject events, 0 otherwise", _event_name_is("GetObject", 1, 0)),
        ("s3.cnt.put", "1 for PutObject events, 0 otherwise", _event_name_is("PutObject", 1, 0)),
        ("s3.cnt.other", "0 for GetObject and PutObject events, 1 otherwise",
         lambda d: 0 if string_at(d, "eventName") in ("GetObject", "PutObject") else 1),
    ]  # fmt: skip
    fields = [plain(name, desc, get) for name, desc, get in strings]
    fields += [plain(name, desc, _on_record(fn), N) for name, desc, fn in numbers]
    return fields
