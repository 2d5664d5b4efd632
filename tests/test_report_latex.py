"""`ablate report --latex`: booktabs tables a paper can \\input, every name escaped."""

import pandas as pd

from suite.cli import _run, main
from suite.report.latex import answer_table, escape, write_latex
from suite.study import load_study

COLUMNS = (
    "contrast, knob, a, b, value_a, value_b, within, dataset, metric, primary, n, delta, lo, hi, "
    "interval, p, p_adj, agree, min_effect, verdict, flags"
).split(", ")


def _comparisons(rows) -> pd.DataFrame:
    """comparisons.csv rows (the stats code's schema) from (contrast, dataset, metric, primary, Δ, verdict)."""
    out = []
    for contrast, dataset, metric, primary, delta, verdict in rows:
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            contrast=contrast, knob=contrast.split(":")[0], dataset=dataset, metric=metric, primary=primary,
            n=10, delta=delta, lo=delta - 0.1, hi=delta + 0.1, interval="95% t, Holm-adjusted",
            agree=10, verdict=verdict,
        )  # fmt: skip
        out.append(row)
    return pd.DataFrame(out)


FRAME = _comparisons(
    [
        (
            "positional: learned → none, in attention_no_pos",
            "relative_position",
            "accuracy",
            True,
            -0.5,
            "worse",
        ),
        ("positional: learned → none, in attention_no_pos", "relative_position", "loss", False, 0.6, "worse"),
        ("positional: none → learned, in mean_500", "reversal", "accuracy", True, 0.4, "better"),
        ("dropout: 0.0 → 0.1 & 50%", "reversal", "accuracy", True, float("nan"), "not compared"),
    ]
)


def test_escape_sets_specials_and_the_reports_symbols_literally():
    assert escape("attention_no_pos") == r"attention\_no\_pos"
    assert escape("a & b 50% #1 $x {y} ~^\\") == (
        r"a \& b 50\% \#1 \$x \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert escape("Δ −0.5 → ±") == r"$\Delta$ -0.5 $\rightarrow$ $\pm$"
    assert all(ord(ch) < 128 for ch in escape("Δ ≈ × ≤ ≥ – · → ± −"))  # pdflatex needs no package


def test_answer_table_has_a_booktabs_row_per_primary_contrast():
    text = answer_table(FRAME, "my_study")
    assert text.count(r"\toprule") == 1 and r"\midrule" in text and r"\bottomrule" in text
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert body.count(r"\\") == 3  # the loss row is not in the verdict family
    assert r"attention\_no\_pos" in body and "attention_no_pos" not in body
    assert r"-0.500 [-0.600, -0.400]" in body and "10/10" in body and "& worse" in body
    assert r"0.0 $\rightarrow$ 0.1 \& 50\%" in body  # an ampersand in a name does not split the row
    assert r"\label{tab:my-study-answer}" in text and r"Holm-adjusted" in text
    assert answer_table(FRAME.assign(primary=False), "s") is None
    more = pd.concat(
        [FRAME, _comparisons([(FRAME["contrast"][0], "combined", "accuracy", True, -0.3, "worse")])]
    )
    lines = answer_table(more, "s").split(r"\midrule")[1].strip().splitlines()
    assert [line.split(" & ")[1] for line in lines[:2]] == ["relative\\_position", "combined"]  # by contrast


def test_report_latex_writes_tables_and_omits_the_answer_without_comparisons(write_study, tmp_path, capsys):
    study = load_study(write_study(name="latex_study"))
    assert _run(study, tmp_path, force=False, progress=False) == 0
    assert main(["report", "latex_study", "--results", str(tmp_path), "--latex"]) == 0
    assert "latex: " in capsys.readouterr().out
    folder = tmp_path / "latex_study"
    (folder / "comparisons.csv").unlink(missing_ok=True)
    path, notes = write_latex(folder)
    text = path.read_text()
    assert path == folder / "tables.tex" and notes == [
        f"answer table omitted: no comparisons.csv in {folder}"
    ]
    assert "% The answer table is omitted: no comparisons.csv." in text
    assert text.count(r"\toprule") == 1 and r"latex\_study: results on the eval split" in text
    body = text.split(r"\midrule")[1]
    assert body.count(r"\\") == 2 and "& mean &" in body and "& attention &" in body  # a row per variant
    FRAME.to_csv(folder / "comparisons.csv", index=False)
    path, notes = write_latex(folder)
    text = path.read_text()
    assert notes == [] and text.count(r"\toprule") == 2 and text.index("answer") < text.index("results}")
