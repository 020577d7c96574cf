"""The README's examples run as written (issue 18).

Every ```bash and ```python block of README.md is extracted; the python blocks run in order in
one namespace, the bash lines' ``scalelab`` commands through `scalelab.cli.main` in this process
(``&&`` and ``> FILE`` as a shell would; compiled fits are then shared with the python blocks,
which keeps the test short; tests/test_cli.py runs the installed console script itself), from a
directory whose ``../shared/data`` is the data directory (the README's paths assume the data
beside the checkout). Blocks listed in
ILLUSTRATIVE are too long for the suite; they are still checked: a python block must compile
and use no name that no earlier block (or itself) defines, a bash block's commands must exist.
"""

import ast
import builtins
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from scalelab.data import data_dir

README = Path(__file__).resolve().parents[1] / "README.md"

# first line of a block -> why it does not run here
ILLUSTRATIVE = {
    "make demo": "builds a virtual environment and runs the whole test suite",
    "boot = fit_many(": "4,000 bootstrap refits of the Epoch table (minutes on two CPU cores)",
    "post = bayes.sample(": "NUTS, 4 chains x 1,000 draws, three times (minutes)",
}
SKIP_LINES = {"scalelab demo": "run by tests/test_demo.py"}


def blocks():
    text = README.read_text()
    return [(m[1], m[2]) for m in re.finditer(r"```(bash|python)\n(.*?)```", text, re.S)]


def _why(code):
    first = code.strip().splitlines()[0]
    return next((why for key, why in ILLUSTRATIVE.items() if key in first or key in code), None)


def _undefined(code, known):
    """Names a block reads that neither it, earlier blocks nor builtins define."""
    tree = ast.parse(code)
    defined, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return used - defined - known - set(dir(builtins)), defined


def test_readme_has_the_blocks_we_expect():
    kinds = [k for k, _ in blocks()]
    assert kinds.count("python") >= 3 and kinds.count("bash") >= 2
    for key in ILLUSTRATIVE:  # the list names blocks that exist (no stale entries)
        assert any(key in code for _, code in blocks()), key


def test_illustrative_blocks_are_sound():
    known = set()
    for kind, code in blocks():
        if kind == "python":
            missing, defined = _undefined(code, known)
            assert not missing, f"README block uses undefined names {sorted(missing)}:\n{code}"
            known |= defined
        elif _why(code):
            for line in code.strip().splitlines():
                assert shutil.which(shlex.split(line)[0]) or shlex.split(line)[0] == "make", line


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if not (data_dir() / "epoch_chinchilla" / "runs.csv").exists():
        pytest.skip("public data not found (set SCALELAB_DATA_DIR)")
    root = tmp_path_factory.mktemp("readme")
    (root / "shared").mkdir()
    os.symlink(data_dir(), root / "shared" / "data")
    (root / "clone").mkdir()
    return root / "clone"


def _scalelab(command: str, capsys) -> None:
    """One ``scalelab ... [> FILE]`` command of a README line, run by `cli.main`."""
    from scalelab import cli

    words = shlex.split(command, comments=True)
    out_file = None
    if ">" in words:
        i = words.index(">")
        words, out_file = words[:i], words[i + 1]
    assert words[0] == "scalelab", command
    capsys.readouterr()
    rc = cli.main(words[1:])
    out = capsys.readouterr()
    assert rc == 0, f"{command}\n{out.err[-2000:]}"
    if out_file:
        Path(out_file).write_text(out.out)


@pytest.mark.slow
def test_readme_blocks_run_as_written(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    ns: dict = {}
    for kind, code in blocks():
        if _why(code):
            continue
        if kind == "python":
            exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the README's own example
            continue
        for line in code.strip().replace("\\\n", " ").splitlines():  # a trailing backslash continues the line
            if any(line.startswith(k) for k in SKIP_LINES):
                continue
            for command in line.split("&&"):
                _scalelab(command.strip(), capsys)
