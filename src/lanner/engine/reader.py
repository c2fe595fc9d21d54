"""Reads rules-file YAML into a :class:`Collector`, checking its structure.

Follows falcosecurity/falco ``rule_loader_reader.cpp``: required keys, value types,
deprecated ``append``, ``override`` with append/replace per key, exceptions, and the
first error stopping the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NoReturn

import yaml

from lanner.engine import parser
from lanner.engine.collector import (
    Collector,
    EngineRequirement,
    ExceptionEntry,
    ListInfo,
    MacroInfo,
    PluginRequirement,
    RuleException,
    RuleInfo,
    RuleUpdate,
)
from lanner.engine.diagnostics import Diagnostic, ErrorCode, Location, WarningCode
from lanner.engine.priority import Priority
from lanner.engine.yamlnodes import YNode, load_documents
from lanner.exceptions import LoadError

WARNING_APPEND = (
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under "
    "'override' instead."
)
WARNING_ENABLED = (
    "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
    "'replace' entry under the 'override' key (i.e. 'enabled: replace')."
)
ERROR_OVERRIDE_APPEND = (
    "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry "
    "(e.g. 'condition: append') under 'override' instead."
)

RULE_APPENDABLE = ("condition", "output", "desc", "tags", "exceptions")
RULE_REPLACEABLE = (
    "condition",
    "output",
    "desc",
    "priority",
    "capture",
    "capture_duration",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
)
KNOWN_KEYS = {
    "list": {"list", "items", "append", "override"},
    "macro": {"macro", "condition", "append", "override"},
    "rule": {
        "rule",
        "desc",
        "condition",
        "output",
        "priority",
        "source",
        "tags",
        "enabled",
        "exceptions",
        "append",
        "override",
        "warn_evttypes",
        "skip-if-unknown-filter",
        "capture",
        "capture_duration",
    },
}
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)\Z")
# the name patterns as Falco spells them in its messages (POSIX syntax, rule_loader_reader.cpp)
UPSTREAM_RGX_IDENTIFIER = "([a-zA-Z]+[a-zA-Z0-9_]*)"
UPSTREAM_RGX_BARESTR = "([^()\"'[:space:]=,]+)"

Report = Callable[[Diagnostic], None]


class RulesReader:
    """Reads one file's content into the shared collector."""

    def __init__(self, collector: Collector, known_sources: set[str], report: Report) -> None:
        self.collector = collector
        self.known_sources = known_sources
        self.report = report
        self.file = ""
        self.items = 0  # top-level items read (0: the file is empty, or only comments)

    # -- helpers -----------------------------------------------------------------------

    def loc(self, node: YNode | None, item_type: str, name: str = "") -> Location:
        """A location for ``node`` in the current file."""
        if node is None:
            return Location(item_type, name, self.file)
        return Location(item_type, name, self.file, node.line, node.column, node.offset)

    def fail(self, message: str, *locs: Location) -> NoReturn:
        """Stop this file with a structural error."""
        raise LoadError(message, tuple(locs), ErrorCode.LOAD_ERR_YAML_VALIDATE)

    def warn(self, code: WarningCode, message: str, *locs: Location) -> None:
        """Record a warning."""
        self.report(Diagnostic(code, message, tuple(locs)))

    def scalar(self, item: YNode, key: str, ctx: Location, optional: bool = False) -> object:
        """A required (or optional) non-empty scalar value of ``item``."""
        node = item.get(key)
        if node is None:
            if optional:
                return None
            self.fail(f"Item has no mapping for key '{key}'", ctx)
        assert node is not None
        if node.kind == "scalar" and node.value is None:
            self.fail(f"Mapping for key '{key}' is empty", ctx)
        vctx = self.loc(node, "value for", key)
        if node.kind != "scalar":
            self.fail("Value is not a scalar value", ctx, vctx)
        if node.value == "":
            self.fail("Value must be non-empty", ctx, vctx)
        return node.value

    def string(self, item: YNode, key: str, ctx: Location, optional: bool = False) -> str | None:
        """A scalar read as a string."""
        value = self.scalar(item, key, ctx, optional)
        if value is None:
            return None
        node = item.get(key)
        # the text as written: `off`, `0x1F` or `1.10` stay strings, as yaml-cpp reads them
        if node is not None and node.raw is not None:
            return node.raw
        return str(value)

    def boolean(self, item: YNode, key: str, ctx: Location) -> bool | None:
        """An optional boolean scalar."""
        value = self.scalar(item, key, ctx, optional=True)
        if value is None:
            return None
        if value in ("y", "Y", "n", "N"):  # yaml-cpp's booleans include y/n
            value = value in ("y", "Y")
        if not isinstance(value, bool):
            self.fail(
                f"Can't decode YAML scalar value for key '{key}' as a boolean",
                ctx,
                self.loc(item.get(key), "value for", key),
            )
        return value

    def uint32(self, item: YNode, key: str, ctx: Location) -> int | None:
        """An optional unsigned 32-bit integer scalar (``capture_duration``)."""
        value = self.scalar(item, key, ctx, optional=True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 32:
            self.fail(
                f"Can't decode YAML scalar value for key '{key}' as an unsigned integer",
                ctx,
                self.loc(item.get(key), "value for", key),
            )
        return value

    def sequence(self, item: YNode, key: str, ctx: Location, optional: bool) -> list[str] | None:
        """A sequence of scalars read as strings."""
        node = item.get(key)
        if node is None:
            if optional:
                return None
            self.fail(f"Item has no mapping for key '{key}'", ctx)
        assert node is not None
        vctx = self.loc(node, "value for", key)
        if node.kind != "seq":  # an empty value (null) is no sequence either, as in Falco
            self.fail("Value is not a sequence", ctx, vctx)
        out = []
        for child in node.value:
            if child.kind != "scalar":
                self.fail("sequence value is not scalar", ctx, vctx, self.loc(child, "list item"))
            out.append(child.raw if child.raw is not None else str(child.value))
        return out

    def check_keys(self, item: YNode, kind: str, ctx: Location) -> None:
        """Warn about keys an item of this kind does not know."""
        for key, node in item.value.items():
            if key not in KNOWN_KEYS[kind]:
                self.warn(
                    WarningCode.LOAD_UNKNOWN_KEY,
                    f"Unknown key '{key}'. It will be ignored",
                    ctx,
                    self.loc(node, "value for", key),
                )

    def overrides(
        self,
        item: YNode,
        appendable: tuple[str, ...],
        replaceable: tuple[str, ...],
        ctx: Location,
    ) -> tuple[set[str], set[str]]:
        """The keys listed under ``override``, split into (append, replace)."""
        node = item.get("override")
        if node is None:
            return set(), set()
        octx = self.loc(node, "overrides")
        if node.kind != "map":
            self.fail("Value of 'override' must be a mapping", ctx, octx)
        append, replace = set(), set()
        for key, op_node in node.value.items():
            op = op_node.value if op_node.kind == "scalar" else None
            kctx = self.loc(op_node, "overrides", key)
            if op == "append":
                if key not in appendable:
                    self.fail(
                        f"Key '{key}' cannot be appended to, use 'replace' instead", ctx, kctx
                    )
                append.add(key)
            elif op == "replace":
                if key not in replaceable:
                    self.fail(f"Key '{key}' cannot be replaced", ctx, kctx)
                replace.add(key)
            else:
                allowed = " ".join(
                    w
                    for w, ok in (("append", key in appendable), ("replace", key in replaceable))
                    if ok
                )
                self.fail(
                    f"Invalid override operation for key '{key}': '{op}'. "
                    f"Allowed values are: {allowed} ",
                    ctx,
                    kctx,
                )
        return append, replace

    # -- entry point -------------------------------------------------------------------

    def read(self, file: str, content: str) -> None:
        """Read every item of ``content``; raises LoadError on the first error."""
        self.file = file
        top = Location("rules content", "", file)
        try:
            docs = load_documents(content)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where: tuple[Location, ...] = (top,)
            if mark:  # as Falco: the rules content, then the value at the parser's mark
                at = Location("value for", "", file, mark.line + 1, mark.column + 1, mark.index)
                where = (top, at)
            raise LoadError(str(exc), where, ErrorCode.LOAD_ERR_YAML_PARSE) from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise LoadError(
                str(exc) or "YAML document too deep", (top,), ErrorCode.LOAD_ERR_YAML_PARSE
            ) from None
        for doc in docs:
            if doc is None or (doc.kind == "scalar" and doc.value is None):
                continue
            if doc.kind == "scalar":
                self.fail("Rules content is not yaml", top)
            if doc.kind != "seq":
                self.fail("Rules content is not yaml array of objects", top)
            for item in doc.value:
                if item.kind == "scalar" and item.value is None:
                    continue
                self.items += 1
                self.read_item(item)

    def read_item(self, item: YNode) -> None:
        """Dispatch one top-level item."""
        if item.kind != "map":
            self.fail(
                "Unexpected element type. Each element should be a yaml associative array.",
                self.loc(item, "rules content item"),
            )
        if "required_engine_version" in item.value:
            self.read_engine_version(item)
        elif "required_plugin_versions" in item.value:
            self.read_plugin_versions(item)
        elif "list" in item.value:
            self.read_list(item)
        elif "macro" in item.value:
            self.read_macro(item)
        elif "rule" in item.value:
            self.read_rule(item)
        else:
            self.warn(
                WarningCode.LOAD_UNKNOWN_ITEM,
                "Unknown top level item",
                self.loc(item, "rules content item"),
            )

    def read_engine_version(self, item: YNode) -> None:
        """``required_engine_version``: an integer N (meaning 0.N.0) or a semver string."""
        ctx = self.loc(item, "required_engine_version")
        value = self.scalar(item, "required_engine_version", ctx)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            version = (0, value, 0)
        else:
            m = _SEMVER.match(str(value))
            if not m:
                self.fail(
                    f"Unable to parse engine version '{value}' as a semver string. "
                    'Expected "x.y.z" semver format.',
                    ctx,
                )
            assert m is not None
            version = (int(m[1]), int(m[2]), int(m[3]))
        self.collector.engine_requirements.append(EngineRequirement(version, (ctx,)))

    def read_plugin_versions(self, item: YNode) -> None:
        """``required_plugin_versions``: recorded; sources map them to capabilities."""
        node = item.value["required_plugin_versions"]
        ctx = self.loc(node, "required plugin versions")
        if node.kind != "seq":
            self.fail("Value of required_plugin_versions must be a sequence", ctx)
        for entry in node.value:
            ectx = self.loc(entry, "required plugin versions entry")
            if entry.kind != "map":
                self.fail("Plugin version must be a mapping", ctx, ectx)
            alts = [
                (str(self.string(entry, "name", ectx)), str(self.string(entry, "version", ectx)))
            ]
            alt_node = entry.get("alternatives")
            if alt_node is not None:
                if alt_node.kind != "seq":
                    self.fail("Value of plugin version alternatives must be a sequence", ectx)
                for alt in alt_node.value:
                    actx = self.loc(alt, "required plugin versions alternative")
                    if alt.kind != "map":
                        self.fail("Plugin version alternative must be a mapping", ectx, actx)
                    alts.append(
                        (
                            str(self.string(alt, "name", actx)),
                            str(self.string(alt, "version", actx)),
                        )
                    )
            names = [a[0] for a in alts]
            for name, version in alts:
                if not _SEMVER.match(version):
                    self.fail(f"Invalid required version '{version}' for plugin '{name}'", ectx)
            if len(set(names)) != len(names):
                self.fail(
                    f"Defined multiple alternative version requirements for plugin '{names[0]}'",
                    ectx,
                )
            self.collector.plugin_requirements.append(PluginRequirement(alts, (ectx,)))

    def _append_flag(self, item: YNode, ctx: Location) -> bool:
        append = bool(self.boolean(item, "append", ctx))
        if append:
            self.warn(WarningCode.LOAD_DEPRECATED_ITEM, WARNING_APPEND, ctx)
        return append

    def read_list(self, item: YNode) -> None:
        """A ``list`` item."""
        name = str(self.string(item, "list", self.loc(item, "list")))
        ctx = self.loc(item, "list", name)
        if not parser.BARESTR_RE.match(name):
            self.warn(
                WarningCode.LOAD_INVALID_LIST_NAME,
                "List has an invalid name. List names "
                f"must match a regular expression: {UPSTREAM_RGX_BARESTR}",
                ctx,
            )
        self.check_keys(item, "list", ctx)
        items = self.sequence(item, "items", ctx, optional=False) or []
        append = self._append_flag(item, ctx)
        o_app, o_rep = self.overrides(item, ("items",), ("items",), ctx)
        if append and (o_app or o_rep):
            self.fail(ERROR_OVERRIDE_APPEND, ctx)
        info = ListInfo(name, items, (ctx,))
        if append or "items" in o_app:
            self.collector.append_list(info)
        else:
            self.collector.define_list(info)

    def read_macro(self, item: YNode) -> None:
        """A ``macro`` item."""
        name = str(self.string(item, "macro", self.loc(item, "macro")))
        ctx = self.loc(item, "macro", name)
        if not parser.IDENTIFIER_RE.match(name):
            self.warn(
                WarningCode.LOAD_INVALID_MACRO_NAME,
                "Macro has an invalid name. Macro "
                "names must match a regular expression: "
                f"{UPSTREAM_RGX_IDENTIFIER}",
                ctx,
            )
        self.check_keys(item, "macro", ctx)
        condition = str(self.string(item, "condition", ctx))
        append = self._append_flag(item, ctx)
        o_app, o_rep = self.overrides(item, ("condition",), ("condition",), ctx)
        if append and (o_app or o_rep):
            self.fail(ERROR_OVERRIDE_APPEND, ctx)
        cond_loc = self.loc(item.get("condition"), "macro condition")
        info = MacroInfo(name, condition, (ctx,), cond_loc)
        if append or "condition" in o_app:
            self.collector.append_macro(info)
        else:
            self.collector.define_macro(info)

    def read_exceptions(self, item: YNode, ctx: Location, append: bool) -> list[RuleException]:
        """The ``exceptions`` of a rule or of a rule update."""
        node = item.get("exceptions")
        if node is None or (node.kind == "scalar" and node.value is None):
            return []
        exctx = self.loc(node, "exceptions")
        if node.kind != "seq":
            self.fail("Rule exceptions must be a sequence", ctx, exctx)
        out: list[RuleException] = []
        for ex in node.value:
            tmp = self.loc(ex, "exception")
            if ex.kind != "map":
                self.fail("Rule exception must be a mapping", ctx, exctx, tmp)
            name = str(self.string(ex, "name", tmp))
            ex_ctx = self.loc(ex, "exception", name)
            if any(e.name == name for e in out):
                self.fail("Exceptions names in the same object must be unique", ctx, ex_ctx)
            fields = self._entry(ex.get("fields"), ex_ctx, "fields")
            if fields is None and not append:
                self.fail("Item has no mapping for key 'fields'", ctx, ex_ctx)
            comps = self._entry(ex.get("comps"), ex_ctx, "comps")
            values: list[ExceptionEntry] = []
            vals_node = ex.get("values")
            if vals_node is not None:
                vctx = self.loc(vals_node, "exception values")
                if vals_node.kind != "seq":
                    self.fail("Rule exception values must be a sequence", ctx, ex_ctx, vctx)
                for v in vals_node.value:
                    entry = self._entry(v, ex_ctx, "")
                    assert entry is not None
                    values.append(entry)
            elif append:
                self.warn(
                    WarningCode.LOAD_APPEND_NO_VALUES,
                    "Overriding/appending exception with no values",
                    ctx,
                    ex_ctx,
                )
            out.append(RuleException(name, fields, comps, values, (ctx, ex_ctx)))
        return out

    def _entry(self, node: YNode | None, ctx: Location, key: str) -> ExceptionEntry | None:
        if node is None:
            return None
        vctx = self.loc(node, "value for", key)
        if node.kind == "scalar":
            if node.value is None or node.value == "":
                self.fail("Value must be non-empty", ctx, vctx)
            return ExceptionEntry(False, node.raw if node.raw is not None else str(node.value))
        if node.kind == "seq":
            items = []
            for child in node.value:
                sub = self._entry(child, ctx, "")
                assert sub is not None
                items.append(sub)
            return ExceptionEntry(True, items=items)
        self.fail("Value must be a string or a sequence", ctx, vctx)
        return None

    def _priority(self, item: YNode, ctx: Location) -> Priority:
        text = str(self.string(item, "priority", ctx))
        try:
            return Priority.parse(text)
        except ValueError:
            self.fail("Invalid priority", ctx, self.loc(item.get("priority"), "rule priority"))
            raise AssertionError from None  # unreachable

    def read_rule(self, item: YNode) -> None:
        """A ``rule`` item: a definition, an append/override, or a standalone enable."""
        name = str(self.string(item, "rule", self.loc(item, "rule")))
        ctx = self.loc(item, "rule", name)
        self.check_keys(item, "rule", ctx)
        append = self._append_flag(item, ctx)
        o_app, o_rep = self.overrides(item, RULE_APPENDABLE, RULE_REPLACEABLE, ctx)
        if append and (o_app or o_rep):
            self.fail(ERROR_OVERRIDE_APPEND, ctx)
        if o_app or o_rep:
            self._read_rule_overrides(item, name, ctx, o_app, o_rep)
        elif append:
            upd = RuleUpdate(name, (ctx,))
            if "condition" in item.value:
                upd.condition = self.string(item, "condition", ctx)
            if "exceptions" in item.value:
                upd.exceptions = self.read_exceptions(item, ctx, append=True)
            self.collector.append_rule(upd)
        elif not any(k in item.value for k in ("condition", "output", "desc", "priority")):
            enabled = self.boolean(item, "enabled", ctx)
            if enabled is None:
                self.fail("Item has no mapping for key 'enabled'", ctx)
            self.warn(WarningCode.LOAD_DEPRECATED_ITEM, WARNING_ENABLED, ctx)
            self.collector.enable_rule(name, bool(enabled), (ctx,))
        else:
            info = RuleInfo(
                name=name,
                condition=str(self.string(item, "condition", ctx)),
                output=str(self.string(item, "output", ctx)).strip(),
                desc=str(self.string(item, "desc", ctx)),
                priority=self._priority(item, ctx),
                locations=(ctx,),
            )
            info.cond_location = self.loc(item.get("condition"), "rule condition")
            info.output_location = self.loc(item.get("output"), "rule output")
            info.source = self.string(item, "source", ctx, optional=True) or "syscall"
            enabled = self.boolean(item, "enabled", ctx)
            info.enabled = True if enabled is None else enabled
            warn = self.boolean(item, "warn_evttypes", ctx)
            info.warn_evttypes = True if warn is None else warn
            skip = self.boolean(item, "skip-if-unknown-filter", ctx)
            info.skip_if_unknown_filter = bool(skip)
            info.capture = bool(self.boolean(item, "capture", ctx))
            info.capture_duration = self.uint32(item, "capture_duration", ctx) or 0
            info.tags = set(self.sequence(item, "tags", ctx, optional=True) or [])
            info.exceptions = self.read_exceptions(item, ctx, append=False)
            for ex in info.exceptions:
                if ex.fields is None:
                    self.fail(
                        "Rule exception item must have fields property with a list of fields",
                        *ex.locations,
                    )
            if not self.collector.define_rule(info, self.known_sources):
                self.warn(
                    WarningCode.LOAD_UNKNOWN_SOURCE, f"Unknown source {info.source}, skipping", ctx
                )

    def _read_rule_overrides(
        self, item: YNode, name: str, ctx: Location, o_app: set[str], o_rep: set[str]
    ) -> None:
        expected = {k for k in set(RULE_APPENDABLE) | set(RULE_REPLACEABLE) if k in item.value}
        for mode, keys in (("append", o_app), ("replace", o_rep)):
            if not keys:
                continue
            upd = RuleUpdate(name, (ctx,))
            for key in sorted(keys):
                if key not in expected:
                    self.fail(
                        f"An {mode} override for '{key}' was specified but '{key}' is not defined",
                        ctx,
                    )
                expected.discard(key)
                if key == "exceptions":
                    upd.exceptions = self.read_exceptions(item, ctx, append=True)
                elif key == "tags":
                    upd.tags = set(self.sequence(item, "tags", ctx, optional=False) or [])
                elif key == "priority":
                    upd.priority = self._priority(item, ctx)
                elif key in ("enabled", "warn_evttypes", "skip-if-unknown-filter", "capture"):
                    attr = key.replace("-", "_")
                    setattr(upd, attr, self.boolean(item, key, ctx))
                elif key == "capture_duration":
                    upd.capture_duration = self.uint32(item, key, ctx)
                else:
                    setattr(upd, key, self.string(item, key, ctx))
            if mode == "append":
                if not upd.has_any_value():
                    self.fail("Appended rule must have exceptions or condition property", ctx)
                self.collector.append_rule(upd)
            else:
                self.collector.replace_rule(upd)
        for key in sorted(expected):
            self.fail(
                f"Unexpected key '{key}': no corresponding entry under 'override' is defined.",
                ctx,
                self.loc(item.get(key), "overrides", key),
            )
