"""`scribcim train` as users meet it: bad options end in one line with the fix and leave no run folder;
`--help` describes every option; the workflow's config is checked by the same rules."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from scribcim.cli import main
from scribcim.config import TrainConfig
from scribcim.errors import ConfigError, DataError
from scribcim.config.workflow import check_workflow_config

REPO = Path(__file__).resolve().parents[1]
BASE = ["train", "--dataset", "phantom", "--profile", "smoke", "--no-progress"]


def workflow_config(**changes):
    import yaml
    with open(REPO / "workflow/config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    return {**cfg, **changes}


@pytest.mark.parametrize("args, match", [
    (["--num-threads", "-4"], "num_threads must be >= 0"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--fold", "7"], "fold must be 1..5, got 7"),
    (["--scribble-seed", "-2"], "scribble_seed must be >= 0"),
    (["--val-patients", "0"], "val_patients must be >= 1"),
    (["--momentum", "1.5"], r"momentum must be in \[0, 1\)"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--num-classes", "3"], "num_classes must be 4"),
    (["--dataset", "mscmr", "--method", "full"], "method 'full' needs dense training labels"),
])
def test_bad_option_one_line_and_no_run_folder(tmp_path, capsys, args, match):
    run = tmp_path / "runs"
    code = main([*BASE, "--runs-root", str(run), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and re.search(match, err), err
    assert not run.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_cuda(tmp_path, capsys):
    assert main([*BASE, "--run-dir", str(tmp_path / "r"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no CUDA GPU is available" in err and "--device cpu" in err
    assert not (tmp_path / "r").exists()


def test_missing_data_leaves_no_run_folder(tmp_path, capsys):
    assert main(["train", "--dataset", "acdc", "--profile", "smoke", "--data", str(tmp_path / "nowhere"),
                 "--run-dir", str(tmp_path / "r")]) == 2
    assert "scribcim fetch acdc" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_failure_while_loading_removes_the_folder_it_made(tmp_path, monkeypatch):
    """A data error after the folder was made (here: a corrupt volume) removes the new folder, not an old one."""
    import scribcim.training.run_setup as rs
    from scribcim.config import make_config

    def corrupt(*a, **k):
        raise DataError("cannot read x.h5: corrupt")

    monkeypatch.setattr(rs, "load_part", corrupt)
    cfg = make_config("smoke", dataset="phantom", run_dir=str(tmp_path / "new"), progress=False)
    with pytest.raises(DataError):
        rs.prepare_run(cfg)
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError):
        rs.prepare_run(make_config("smoke", dataset="phantom", run_dir=str(tmp_path / "kept"), progress=False))
    assert (tmp_path / "kept").is_dir()


def test_help_describes_every_option(capsys):
    """Every config field's option has help text, its default (and the profiles that change it) and its
    choices; --data is a hidden alias of --data-root."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    options = out.split(" options: ")[1]
    for f in dataclasses.fields(TrainConfig):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        entry = re.search(re.escape(flag) + r"[ ,{].*?\(default [^)]*\)", options)
        assert entry and f.metadata["help"].split()[0] in entry.group(0), flag
    assert "--method {cim,cim_paper,dmpls,full,pce,pce_dice,pce_selfdice}" in out and "--dataset {acdc,mscmr,phantom}" in out
    assert "(default 256; cpu-lr01 128, cpu-lr03 128, cpu-mm175 128," in out and "cpu-mm200 128, quick 128, smoke 64)" in out
    assert "--data " not in out.replace("--data-root", "")
    from scribcim.cli import build_parser
    assert build_parser().parse_args(["train", "--data", "x"]).data_root == "x"


@pytest.mark.parametrize("change, match", [
    (dict(bogus=1), r"unknown key\(s\) \['bogus'\]"),
    (dict(main={"profile": "quick", "datasets": ["acdc"], "methods": ["nosuch"], "folds": [1], "seeds": [1]}),
     "main: unknown method 'nosuch'"),
    (dict(main={"profile": "fastest", "datasets": ["acdc"], "methods": ["cim"], "folds": [1], "seeds": [1]}),
     "main: unknown profile 'fastest'"),
    (dict(main={"profile": "quick", "datasets": ["kaggle"], "methods": ["cim"], "folds": [1], "seeds": [1]}),
     "unknown dataset 'kaggle'"),
    (dict(main={"profile": "quick", "datasets": ["acdc"], "methods": ["cim"], "folds": [6], "seeds": [1]}),
     "fold must be 1..5"),
    (dict(main={"profile": "quick", "datasets": ["acdc"], "methods": ["cim"], "folds": [1]}),
     r"main: missing key\(s\) \['seeds'\]"),
    (dict(overrides={"nosuchfield": 1}), r"overrides: unknown key\(s\) \['nosuchfield'\]"),
    (dict(overrides={"lr": -1}), "lr must be > 0"),
    (dict(overrides={"num_threads": "many"}), "num_threads must be int"),
    (dict(overrides={"method": "pce"}), "set per job by the workflow"),
    (dict(device="gpu"), "device must be cpu, cuda or cuda:N"),
    (dict(robustness={**workflow_config()["robustness"], "base": "nobody"}), "robustness: scribbles must be"),
    (dict(robustness={**workflow_config()["robustness"], "levels": [0.5]}), "quoted level with two decimals"),
])
def test_workflow_config_is_checked_by_the_library(change, match):
    with pytest.raises(ConfigError, match=match):
        check_workflow_config(workflow_config(**change))


def test_committed_workflow_configs_pass():
    import yaml
    assert check_workflow_config(workflow_config()) > 50
    for extra in ("workflow/paper.yaml", "workflow/smoke.yaml"):
        with open(REPO / extra) as fh:
            assert check_workflow_config(workflow_config(**yaml.safe_load(fh))) > 0
