"""The command line: exit codes, one-line errors, overrides reaching the config."""
from __future__ import annotations

import json

from scribcim.cli import build_parser, config_from_args, main


def test_overrides_reach_config():
    """Every config field is an option; --max-iterations 1 and --no-use-banks arrive in the config."""
    ns = build_parser().parse_args(["train", "--dataset", "phantom", "--method", "cim", "--fold", "2",
                                    "--profile", "paper", "--max-iterations", "1", "--no-use-banks"])
    cfg = config_from_args(ns)
    assert (cfg.max_iterations, cfg.use_banks, cfg.fold, cfg.input_size) == (1, False, 2, 256)


def test_train_and_evaluate_via_cli(tmp_path, capsys):
    """`scribcim train` then `scribcim evaluate` on the phantom succeed and print the table."""
    run = tmp_path / "run"
    assert main(["train", "--dataset", "phantom", "--profile", "smoke", "--method", "pce",
                 "--run-dir", str(run), "--no-progress"]) == 0
    assert main(["evaluate", "--run", str(run), "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "| pce | best |" in out and (tmp_path / "res" / "summary.json").is_file()
    s = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert main(["report", str(tmp_path / "res" / "summary.json")]) == 0
    assert s["checkpoints"]["best"]["num_cases"] == 4


def test_bad_parameter_is_one_line_error(tmp_path, capsys):
    """A bad value exits 2 with a single line naming the problem."""
    assert main(["train", "--dataset", "phantom", "--profile", "smoke", "--input-size", "100",
                 "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "input_size" in err


def test_fetch_refuses_corrupt_source(tmp_path, capsys, monkeypatch):
    """`scribcim fetch acdc --from DIR` with a corrupted file exits 2, naming the file; nothing is left."""
    import scribcim.data.fetch as fetch_mod
    src = tmp_path / "src" / "ACDC"
    src.mkdir(parents=True)
    (src / "a.bin").write_bytes(b"good bytes")
    good = fetch_mod.sha256_file(src / "a.bin")
    (src / "a.bin").write_bytes(b"bad bytes!")
    monkeypatch.setattr(fetch_mod, "load_manifest", lambda dataset: {"ACDC/a.bin": good})
    code = main(["fetch", "acdc", "--from", str(tmp_path / "src"), "--data", str(tmp_path / "dst")])
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "a.bin" in errors[0] and "checksum" in errors[0]
    assert not (tmp_path / "dst" / "ACDC" / "a.bin").exists()
    assert not list(tmp_path.rglob("*.part"))  # fetch's partial downloads (.<name>.<random>.part) are removed


def test_missing_data_root_is_clear(tmp_path, capsys):
    """Training ACDC from an empty data root says where it looked and how to fetch."""
    assert main(["train", "--dataset", "acdc", "--profile", "smoke", "--data", str(tmp_path / "nowhere"),
                 "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "scribcim fetch acdc" in err and "nowhere" in err
