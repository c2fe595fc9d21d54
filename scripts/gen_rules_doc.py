"""Generate docs/rules.md from Lanner's default rules files.

Run: .venv/bin/python scripts/gen_rules_doc.py   (tests check the file is up to date)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lanner.rules import default_rules_files  # noqa: E402

OUT = ROOT / "docs" / "rules.md"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render() -> str:
    """The Markdown text of docs/rules.md."""
    lines = [
        "# Lanner's default rules",
        "",
        "Generated from `src/lanner/rules/*.yaml` by `scripts/gen_rules_doc.py`; do not edit.",
        "",
        "Loaded by `lanner run` when no `-r` is given. Tune them without editing the files:",
        "append to the lists below in your own rules file (`override: {items: append}`), or",
        "replace a macro (`override: {condition: replace}`). Every rule has positive and",
        "negative specs in `tests/rules/` (run them with `lanner rules test tests/rules`).",
        "",
    ]
    for path in default_rules_files():
        items = yaml.safe_load(path.read_text()) or []
        rules = [i for i in items if "rule" in i]
        lists = [i for i in items if "list" in i]
        source = rules[0].get("source", "syscall") if rules else "syscall"
        lines += [f"## `{path.name}` (source `{source}`, {len(rules)} rules)", ""]
        lines += ["| rule | priority | tags | description |", "|---|---|---|---|"]
        for r in rules:
            tags = ", ".join(r.get("tags", []))
            lines.append(f"| {r['rule']} | {r['priority']} | {tags} | {_one_line(r['desc'])} |")
        extendable = [
            i for i in lists if i["list"].startswith(("allowed_", "user_", "disallowed_"))
        ]
        if extendable:
            lines += ["", "Lists meant to be extended:", ""]
            for i in extendable:
                shown = ", ".join(str(v) for v in i.get("items", [])) or "(empty)"
                lines.append(f"- `{i['list']}`: {shown}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Write the file."""
    OUT.write_text(render())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
