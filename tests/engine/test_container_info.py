"""``%container.info`` and Falco's ``-p`` option: the text a user reads in each alert."""

from __future__ import annotations

import pytest

from lanner.engine.container_info import (
    DEFAULT_CONTAINER_INFO,
    PrintOption,
    expand_container_info,
)


@pytest.mark.parametrize(
    ("output", "want"),
    [
        (
            "shell %proc.name %container.info (user=%user.name)",
            "shell %proc.name (user=%user.name)",
        ),
        ("shell (%container.info user=%user.name)", "shell (user=%user.name)"),
        ("shell (user=%user.name %container.info)", "shell (user=%user.name)"),
        ("shell %proc.name %container.info", "shell %proc.name"),
        ("%container.info shell", "shell"),
    ],
)
def test_dropped_token_leaves_no_gap(output: str, want: str) -> None:
    appended = "container_id=%container.id container_name=%container.name"
    got = expand_container_info(output, has_container_fields=True, appended=appended)
    assert got == want


def test_expanded_when_nothing_else_names_the_container() -> None:
    got = expand_container_info("shell %container.info (x=%a)", has_container_fields=True)
    assert got == f"shell {DEFAULT_CONTAINER_INFO} (x=%a)"


def test_sources_without_containers_drop_the_token_and_ignore_print() -> None:
    pc = PrintOption.parse("c")
    got = expand_container_info("a %container.info b", has_container_fields=False, print_option=pc)
    assert got == "a b"


def test_print_shortcuts_replace_the_token_or_are_appended() -> None:
    pc, pk = PrintOption.parse("c"), PrintOption.parse("kubernetes")
    assert pc.replaces_container_info and pk.replaces_container_info
    with_token = expand_container_info(
        "a %container.info b", has_container_fields=True, print_option=pc
    )
    assert with_token == "a container=%container.name (id=%container.id) b"
    without = expand_container_info("a b", has_container_fields=True, print_option=pk)
    assert without == "a b k8s.ns=%k8s.ns.name k8s.pod=%k8s.pod.name container=%container.id"


def test_print_text_is_appended_after_the_expansion() -> None:
    p = PrintOption.parse("pid=%proc.pid")
    assert not p.replaces_container_info
    got = expand_container_info("a %container.info", has_container_fields=True, print_option=p)
    assert got == f"a {DEFAULT_CONTAINER_INFO} pid=%proc.pid"


def test_empty_print_text_is_refused() -> None:
    with pytest.raises(ValueError, match="-p"):
        PrintOption.parse("  ")
