"""The pipeline commands of the `territoire` CLI are wired and refuse an unexplained override."""

from __future__ import annotations

from territoire.cli import build_parser, main


def test_pipeline_commands_are_registered():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    for name in ("sources", "load", "validate", "db", "demo", "dbt", "publish", "report", "analysts", "push",
                 "quality-scaffold"):
        assert name in commands


def test_an_override_needs_a_name_and_a_reason(capsys):
    assert main(["publish", "dim_territoire", "--override-by", "alice"]) == 2
    assert "--override-by and --reason go together" in capsys.readouterr().err
