"""The one flag vocabulary: old spellings still work, say once what the flag is called now, and stay out of --help."""
import sys

import pytest

from qrewrite.cli import ArgumentParser


def parser():
    p = ArgumentParser(prog="script")
    p.add_argument("--data", nargs="+", default=["data/processed"], renamed_from=["--dataset"])
    p.add_argument("--reports", renamed_from=["--outputs"])
    return p


def test_an_old_spelling_stores_into_the_new_flag_with_a_one_line_notice(capsys):
    args = parser().parse_args(["--dataset", "a", "b", "--outputs", "r"])
    assert args.data == ["a", "b"] and args.reports == "r"
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes == ["note: --dataset is now --data; the old spelling will be removed in a later release",
                     "note: --outputs is now --reports; the old spelling will be removed in a later release"]


def test_defaults_and_new_spellings_are_untouched_by_the_old_ones(capsys):
    assert parser().parse_args([]).data == ["data/processed"]
    assert parser().parse_args(["--reports", "r"]).reports == "r"
    assert capsys.readouterr().err == ""


def test_old_spellings_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    shown = capsys.readouterr().out
    assert "--data" in shown and "--reports" in shown
    assert "--dataset" not in shown and "--outputs" not in shown


def test_a_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        parser().parse_args(["--nope"])
    assert stop.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, lr", [([], 1e-4), (["--recipe", "original"], 5e-5), (["--method", "lora"], 2e-4),
                                      (["--recipe", "original", "--lr", "3e-4"], 3e-4)])
def test_the_learning_rate_follows_the_method_and_recipe(monkeypatch, argv, lr):
    import finetune

    monkeypatch.setattr(sys, "argv", ["finetune.py", *argv])
    assert finetune.parse_args().lr == lr
