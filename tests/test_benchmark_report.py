"""`make bench` rewrites only its generated block of docs/benchmarks.md, keeping the analysis."""

from benchmarks import __main__ as bench


def test_the_generated_block_is_replaced_and_the_analysis_kept(tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    monkeypatch.setattr(bench, "DOC", doc)
    doc.write_text("# Benchmarks\n\nHand-written analysis.\n")

    bench.write_doc(f"{bench.START}\nfirst run\n{bench.END}")
    bench.write_doc(f"{bench.START}\nsecond run\n{bench.END}")

    text = doc.read_text()
    assert "Hand-written analysis." in text
    assert "second run" in text and "first run" not in text
    assert text.count(bench.START) == 1


def test_a_results_block_lists_every_figure_and_failed_script():
    row = {"benchmark": "rating", "metric": "legs/s", "value": 4770.0, "unit": "legs/s",
           "anchor": "one SQL statement", "anchor_value": 5400.0, "ratio": 1.13, "target": "<= 1.5x",
           "notes": "1M legs"}
    block = bench._results_block([row], [("import", "boom")])
    assert block.startswith(bench.START) and block.endswith(bench.END)
    assert "| rating | legs/s | 4,770 | legs/s | one SQL statement | 5,400 | 1.13 | <= 1.5x | 1M legs |" in block
    assert "bench_import" in block


def test_rerunning_one_script_replaces_only_its_rows():
    row = {"benchmark": "rating", "metric": "seconds", "value": 99.0, "unit": "s", "anchor": "SQL",
           "anchor_value": 60.0, "ratio": 1.65, "target": "<= 1.5x", "notes": ""}
    other = {**row, "benchmark": "import", "ratio": 18.0}
    block = bench._results_block([other, row], [])

    updated = bench._replace_rows(block, ["rating"], [{**row, "value": 86.0, "ratio": 1.44}])

    assert "| rating | seconds | 86.00 | s | SQL | 60.00 | 1.44 |" in updated
    assert "| rating | seconds | 99.00 |" not in updated
    assert "| import | seconds | 99.00 | s | SQL | 60.00 | 18.00 |" in updated
    assert "Rows of rating re-measured" in updated and updated.endswith(bench.END)


def test_rerunning_a_script_again_keeps_one_stamp_for_it():
    row = {"benchmark": "rating", "metric": "seconds", "value": 99.0, "unit": "s", "anchor": "SQL",
           "anchor_value": 60.0, "ratio": 1.65, "target": "<= 1.5x", "notes": ""}
    block = bench._results_block([row, {**row, "benchmark": "import"}], [])

    block = bench._replace_rows(block, ["import"], [{**row, "benchmark": "import"}])
    block = bench._replace_rows(block, ["rating"], [row])
    block = bench._replace_rows(block, ["rating"], [{**row, "value": 86.0}])

    assert block.count("Rows of rating re-measured") == 1
    assert block.count("Rows of import re-measured") == 1
    assert block.endswith(bench.END)
