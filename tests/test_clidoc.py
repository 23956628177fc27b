"""docs/cli.md's reference section is what the commands print: it cannot drift."""

from __future__ import annotations

from cogw.shell.clidoc import BEGIN, DOC, END, main, render, replaced


def test_docs_cli_md_reference_section_matches_the_current_help() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert BEGIN in doc and END in doc
    assert replaced(doc, render()) == doc, "docs/cli.md is stale: python -m cogw.shell.clidoc"
    assert main(["--check"]) == 0


def test_the_section_holds_every_command_and_would_catch_a_changed_help() -> None:
    section = render()
    for title in (
        "### cogw plan",
        "### cogw weights import",
        "### cogw plan gc",
        "### cogw lock fmt",
    ):
        assert f"\n{title}\n" in section
    doc = DOC.read_text(encoding="utf-8")
    edited = doc.replace("Show what an operation would do", "Show what it does", 1)
    assert edited != doc and replaced(edited, render()) != edited
