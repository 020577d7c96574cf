"""CLI: JSON contracts, exit codes, stderr/stdout separation."""

import json
import os
import subprocess
import sys

import pytest

from scalelab import cli


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_json_contract(capsys, tmp_path, simulated_runs):
    path = tmp_path / "runs.csv"
    simulated_runs.to_csv(path, index=False)
    code, out, err = run(capsys, "fit", str(path), "--law", "chinchilla", "--starts", "64", "--json")
    assert code == 0
    obj = json.loads(out)  # exactly one JSON object on stdout
    assert set(obj) == {"law", "params", "unconstrained", "objective", "objective_kind", "delta", "fixed", "n_runs",
                        "n_rows", "converged", "method", "n_starts", "best_start", "n_iter", "seconds",
                        "compile_seconds", "notes", "warnings"}
    assert set(obj["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert (obj["objective_kind"], obj["delta"], obj["fixed"]) == ("huber", 1e-3, {})  # every parameter fitted
    code, held, _ = run(capsys, "fit", str(path), "--starts", "64", "--fix", "alpha=0.3", "--delta", "0.01", "--json")
    held = json.loads(held)  # a saved fit says what was held and how it was fitted (it saved as a free Huber fit)
    assert held["fixed"] == {"alpha": 0.3} and held["params"]["alpha"] == 0.3 and held["delta"] == 0.01
    assert obj["n_runs"] == obj["n_rows"] == len(simulated_runs)
    assert "fitting chinchilla" in err

    fit_json = tmp_path / "fit.json"
    fit_json.write_text(out)
    code, out, _ = run(capsys, "allocate", "--from", str(fit_json), "--C", "1e22,1e24", "--json")
    alloc = json.loads(out)
    assert code == 0 and len(alloc["N_opt"]) == 2 and alloc["N_opt"][1] > alloc["N_opt"][0]


def test_laws_json_lists_inputs_and_params(capsys):
    code, out, _ = run(capsys, "laws", "--json")
    laws = {d["name"]: d for d in json.loads(out)["laws"]}
    assert code == 0
    assert laws["chinchilla"]["inputs"] == ["N", "D"]
    assert laws["chinchilla"]["params"] == ["E", "A", "B", "alpha", "beta"]


def test_predict_with_reference(capsys):
    code, out, _ = run(capsys, "predict", "--law", "chinchilla", "--params",
                       '{"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}',
                       "--N", "7e10", "--D", "1.4e12", "--json")
    obj = json.loads(out)
    assert obj["loss"][0] == pytest.approx(1.69 + 406.4 / 7e10 ** 0.34 + 410.7 / 1.4e12 ** 0.28, rel=1e-12)


def test_predict_names_what_a_hyper_parameter_law_predicts(capsys):
    """Found by a new-user trial: ``predict --law batch_size_loss`` printed its batch size as ``loss=2.5e6``, and the
    JSON named it ``loss``. The value is named by the law's target; non-finite parameters are warned about."""
    code, out, _ = run(capsys, "predict", "--law", "batch_size_loss", "--params", '{"lambda_B": 2e8, "alpha_B": 4.76}',
                       "--loss", "2.5", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["target"] == "batch_size" and "loss" not in obj
    assert obj["batch_size"][0] == pytest.approx(2e8 * 2.5 ** -4.76, rel=1e-12)
    code, out, _ = run(capsys, "predict", "--law", "batch_size_loss", "--params", '{"lambda_B": 2e8, "alpha_B": 4.76}',
                       "--loss", "2.5")
    assert out.strip().startswith("loss=2.5  batch_size=")
    code, out, err = run(capsys, "predict", "--law", "chinchilla", "--params",
                         '{"E": 1.69, "A": 406.4, "B": 410.7, "alpha": NaN, "beta": 0.28}', "--N", "7e10", "--D", "1e12")
    assert "warning: 1 of 1 predictions are not finite numbers" in err


def test_from_a_fit_file_reads_its_law_and_a_posterior_summary_is_said(capsys, tmp_path):
    """Found by a new-user trial: ``predict/allocate --from FIT.json`` of a Kaplan fit needed ``--law kaplan`` although
    the file names its law; a ``bayes --json`` summary was read as a point fit (its medians) without a word."""
    fit = {"law": "kaplan", "params": {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095}}
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(fit))
    code, out, _ = run(capsys, "predict", "--from", str(path), "--N", "1e9", "--D", "2e10", "--json")
    ref = ((8.8e13 / 1e9) ** (0.076 / 0.095) + 5.4e13 / 2e10) ** 0.095
    assert code == 0 and json.loads(out)["law"] == "kaplan" and json.loads(out)["loss"][0] == pytest.approx(ref, rel=1e-9)
    code, _, err = run(capsys, "predict", "--from", str(path), "--law", "chinchilla", "--N", "1e9", "--D", "2e10")
    assert code == 2 and "holds a fit of law 'kaplan', not 'chinchilla'" in err  # a law named still has the say
    summary = {"law": "chinchilla", "params": {k: {"median": v, "lo": v, "hi": v} for k, v in
                                               {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}.items()}}
    path.write_text(json.dumps(summary))
    code, out, err = run(capsys, "predict", "--from", str(path), "--N", "7e10", "--D", "1.4e12", "--json")
    assert code == 0 and "the posterior's per-parameter medians are read as a point fit" in err
    assert json.loads(out)["loss"][0] == pytest.approx(1.69 + 406.4 / 7e10 ** 0.34 + 410.7 / 1.4e12 ** 0.28, rel=1e-12)


def test_bad_file_gives_error_and_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("N,D,loss\n1e9,2e10,-3\n")
    code, out, err = run(capsys, "fit", str(bad), "--json")
    assert code == 2 and out == "" and "'loss' must be > 0" in err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "scalelab.cli", "laws"], capture_output=True, text=True)
    assert out.returncode == 0 and "chinchilla" in out.stdout


def test_a_reader_that_stops_early_gets_no_error_and_a_cache_warning_is_one_line(tmp_path):
    # `scalelab laws | head -1` printed "error: [Errno 32] Broken pipe" (exit 2); a command's stdout whose reader is
    # gone is now left quietly with the status a shell gives such a tool (128 + SIGPIPE)
    proc = subprocess.Popen([sys.executable, "-m", "scalelab.cli", "laws"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes a line: its first print meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""
    # a cache directory that cannot be made is said in one line (it was Python's RuntimeWarning with a source line),
    # and --strict does not fail on it: it concerns the machine, not the results
    blocked = tmp_path / "file"
    blocked.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "SCALELAB_CACHE"))}
    env["SCALELAB_CACHE_DIR"] = str(blocked)  # (a JAX cache directory of the test session's own would be kept)
    out = subprocess.run([sys.executable, "-m", "scalelab.cli", "laws", "--strict"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0 and "chinchilla" in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"scalelab: compilation cache {blocked}") and "not usable" in lines[0]
