from suite.report import write_report
from suite.report.tables import provenance_line
from suite.store import Store


def test_a_kind_without_a_writer_gets_the_generic_table_even_without_provenance_columns(tmp_path):
    store = Store(tmp_path / "odd")
    store.write_meta({"name": "odd", "kind": "no_writer_kind", "description": "What does X buy?"})
    store.write({"key": "a", "status": "ok", "score": 0.5, "config": "{}"}, [])
    store.write({"key": "b", "status": "failed", "score": None, "error": "boom\nValueError: bad"}, [])
    text = write_report(store.dir).read_text()
    assert text.startswith("# odd\n") and "**Question.** What does X buy?" in text
    assert "2 trials: 1 failed, 1 ok." in text
    table = text[text.index("## Results") : text.index("## Provenance")]
    assert "score" in table and "0.5" in table and "config" not in table and "boom" not in table
    assert "torch ? on ?" in text and "time not recorded" in text


def test_provenance_spans_the_recorded_times_only():
    import pandas as pd

    runs = pd.DataFrame({"torch_version": ["2.13.0", "2.13.0"], "measured_at": ["2026-01-02", None]})
    line = provenance_line(runs)
    assert "torch 2.13.0" in line and "2026-01-02 – 2026-01-02 (UTC)" in line
