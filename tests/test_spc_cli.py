"""``qualityloop spc``: the JSON of a file chart is the library's ``as_dict()``, on Montgomery's
piston rings, orange-juice cans and circuit boards; bad files get one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualityloop.analytics import spc
from qualityloop.cli import app
from qualityloop.services.spc_common import capability_dict

DATA = Path(__file__).parent / "data" / "spc"
RUNNER = CliRunner()


def run(*args: str) -> dict:
    result = RUNNER.invoke(app, ["spc", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def fails(*args: str) -> str:
    result = RUNNER.invoke(app, ["spc", *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def rings() -> pd.DataFrame:
    return pd.read_csv(DATA / "pistonrings.csv")


def _subgroups(rings: pd.DataFrame) -> pd.DataFrame:
    return spc.subgroups_from_long(rings, value="diameter", subgroup="sample")


def test_xbar_r_json_is_the_librarys_phase_ii_chart(rings):
    got = run("xbar-r", str(DATA / "pistonrings.csv"), "--column", "diameter", "--subgroup",
              "sample", "--phase1", "25")
    matrix = _subgroups(rings).to_numpy()
    reference = spc.xbar_r(matrix[:25])
    expected = spc.xbar_r(matrix, limits=reference).as_dict()
    assert got == json.loads(json.dumps(expected))
    assert round(got["center"], 5) == 74.00118  # Montgomery's x-double-bar of the trial samples
    assert got["phase"] == "II" and got["out_of_control"] == [36, 37, 38]


def test_xbar_r_wide_columns_and_nelson_rules(rings, tmp_path):
    wide = _subgroups(rings)
    wide.columns = [f"x{i + 1}" for i in range(5)]
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    columns = [arg for c in wide.columns for arg in ("--column", c)]
    got = run("xbar-r", str(path), *columns, "--rules", "nelson")
    expected = spc.xbar_r(wide.to_numpy(), rules="nelson").as_dict()
    assert got == json.loads(json.dumps(expected))


def test_capability_json_matches_qcc_on_the_trial_samples(rings, tmp_path):
    path = tmp_path / "trial.csv"
    rings[rings["trial"]].to_csv(path, index=False)
    got = run("capability", str(path), "--column", "diameter", "--subgroup", "sample",
              "--lsl", "73.95", "--usl", "74.05")
    result = spc.capability(_subgroups(rings[rings["trial"]]).to_numpy(), lsl=73.95, usl=74.05)
    assert got == json.loads(json.dumps(capability_dict(result)))
    assert round(got["indices"]["Cp"]["value"], 3) == 1.703  # qcc's printout
    assert round(got["indices"]["Cpk"]["value"], 3) == 1.663


def test_attribute_charts_are_the_librarys():
    juice = pd.read_csv(DATA / "orangejuice.csv")
    got = run("p", str(DATA / "orangejuice.csv"), "--column", "D", "--size-column", "size",
              "--phase1", "30")
    reference = spc.p_chart(juice["D"][:30], juice["size"][:30])
    assert got == json.loads(json.dumps(spc.p_chart(juice["D"], juice["size"],
                                                     limits=reference).as_dict()))
    circuit = pd.read_csv(DATA / "circuit.csv")
    got = run("c", str(DATA / "circuit.csv"), "--column", "x", "--phase1", "26")
    assert round(got["center"], 2) == 19.85  # Montgomery's c-bar
    assert got == json.loads(json.dumps(
        spc.c_chart(circuit["x"], limits=spc.c_chart(circuit["x"][:26])).as_dict()))
    got = run("u", str(DATA / "circuit.csv"), "--column", "x", "--size-column", "size")
    assert got == json.loads(json.dumps(spc.u_chart(circuit["x"], circuit["size"]).as_dict()))
    got = run("np", str(DATA / "orangejuice.csv"), "--column", "D", "--size-column", "size")
    assert got == json.loads(json.dumps(spc.np_chart(juice["D"], 50).as_dict()))


def test_individuals_ewma_and_cusum(rings):
    path = str(DATA / "montgomery_table_9_1.csv")
    table = pd.read_csv(path)
    column = table.columns[-1]
    for name, make in (("individuals", spc.individuals), ("ewma", spc.ewma),
                       ("cusum", spc.cusum)):
        got = run(name, path, "--column", column)
        assert got == json.loads(json.dumps(make(table[column].to_numpy()).as_dict())), name


def test_errors_name_the_file_row_and_column(tmp_path):
    assert "pistonrings.csv: no column 'width'; the columns are: diameter, sample, trial" in \
        fails("xbar-r", str(DATA / "pistonrings.csv"), "--column", "width", "--subgroup",
              "sample")
    assert "circuit.csv, row 2, column 'trial': expected a number, got 'TRUE'" in \
        fails("c", str(DATA / "circuit.csv"), "--column", "trial")
    bad = tmp_path / "bad.csv"
    bad.write_text("lot,mm\na,1.0\na,1.1\nb,1.2\nb,x\n")
    assert "bad.csv, row 5, column 'mm': expected a number, got 'x'" in \
        fails("xbar-r", str(bad), "--column", "mm", "--subgroup", "lot")
    assert "needs subgroups" in fails("xbar-r", str(DATA / "circuit.csv"), "--column", "x")
    assert "--size-column" in fails("p", str(DATA / "orangejuice.csv"), "--column", "D")
    assert "--rules" in fails("c", str(DATA / "circuit.csv"), "--column", "x", "--rules", "x")
    assert "missing.csv" in fails("c", str(tmp_path / "missing.csv"), "--column", "x")
