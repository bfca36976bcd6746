"""Helpers shared by the CLI tests: run the CLI in-process, check the one-line error contract."""

from genrestore import cli


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """genrestore.cli.main(argv) -> (exit code, stdout, stderr)."""
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(err: str, *words: str) -> None:
    """stderr is exactly one 'genrestore: error: ...' line, naming each of ``words``."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("genrestore: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, err)
