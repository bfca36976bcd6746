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


def write_tiny_checkpoints(folder, configs: dict) -> dict[str, str]:
    """Untrained checkpoints, one per {family: config}, seeded: {family: path}."""
    import dataclasses

    import torch

    from genrestore.checkpoint import save_checkpoint
    from genrestore.models import build_inference_model

    paths = {}
    for family, cfg in configs.items():
        torch.manual_seed(0)
        net = build_inference_model(family, cfg)
        path = folder / f"tiny-{family}.safetensors"
        state = {"model." + k: v for k, v in net.state_dict().items()}
        save_checkpoint(path, state, family=family, config=dataclasses.asdict(cfg))
        paths[family] = str(path)
    return paths
