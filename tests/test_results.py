"""The results tables: collecting run records and rendering RESULTS.md and the README's table."""

import dataclasses
import json

import pytest

from sciml.study import collect_runs, format_value, render_results, render_summary, replace_generated


@dataclasses.dataclass(frozen=True)
class _Config:
    steps: int = 1000
    width: int = 20
    edges: tuple[float, ...] = (0.0, 1.0)


def _write_run(folder, problem, seed, metrics, *, steps=1000, quick=False, config=None, wall=12.4):
    folder.mkdir(parents=True)
    record = {
        "problem": problem,
        "seed": seed,
        "steps": steps,
        "wall_time_s": wall,
        "quick": quick,
        "config": {"steps": steps, "width": 20, "edges": [0.0, 1.0], **(config or {})},
        "metrics": metrics,
        "versions": {"sciml": "0.1.0"},
    }
    (folder / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def runs(tmp_path):
    _write_run(tmp_path / "a" / "s1", "heat", 1, {"relative_l2": 0.000346, "max_error": 0.0031, "ok": True})
    _write_run(tmp_path / "a" / "s0", "heat", 0, {"relative_l2": 0.000345, "max_error": 0.0036, "ok": True})
    _write_run(
        tmp_path / "b",
        "ode",
        2,
        {"rates": [0.04, 3.0e7], "vpt": None, "errors": {"k1": 1.5e-05}},
        steps=500,
        config={"width": 64},
        wall=99.6,
    )
    _write_run(tmp_path / "a" / "quick", "heat", 0, {"relative_l2": 0.43, "max_error": 1.0}, steps=60, quick=True)
    (tmp_path / "a" / "unfinished" / "checkpoints").mkdir(parents=True)
    return tmp_path


def test_collect_skips_quick_and_unfinished_runs(runs):
    records = collect_runs([runs / "a", runs / "b"])
    assert [(r["problem"], r["seed"]) for r in records] == [("heat", 0), ("heat", 1), ("ode", 2)]
    assert records[0]["path"] == str(runs / "a" / "s0" / "metrics.json")
    with_quick = collect_runs([runs], include_quick=True)
    assert [(r["problem"], r["seed"], r["steps"]) for r in with_quick][:3] == [
        ("heat", 0, 60),
        ("heat", 0, 1000),
        ("heat", 1, 1000),
    ]


def test_collect_rejects_malformed_records(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"problem": "heat", "seed": 0, "metrics": {}}))
    with pytest.raises(ValueError, match=r"run/metrics.json is not a run record: it lacks steps, wall_time_s"):
        collect_runs([tmp_path])
    (tmp_path / "run" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        collect_runs([tmp_path])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_runs([tmp_path / "missing"])


def test_format_value():
    assert format_value(0.000345) == "0.000345"
    assert format_value(3.456e-5) == "3.46e-05"
    assert format_value(12737) == "12737"
    assert format_value(True) == "yes"
    assert format_value(None) == "non-finite"
    assert format_value([0.04, 3.0e7]) == "0.04 / 3e+07"
    assert format_value({"k1": 1.5e-05, "k2": 0.0046}) == "k1 1.5e-05, k2 0.0046"
    assert format_value("a|b") == "a\\|b"


def test_render_results_tables(runs):
    records = collect_runs([runs])
    headlines = {"heat": ("relative_l2", "max_error"), "ode": ("rates", "vpt", "errors")}
    text = render_results(records, headlines, defaults={"heat": _Config(), "ode": _Config()})
    expected = """\
### heat

| seed | steps | settings | `relative_l2` | `max_error` | wall time (s) | sciml |
|---|---|---|---|---|---|---|
| 0 | 1000 | default | 0.000345 | 0.0036 | 12 | 0.1.0 |
| 1 | 1000 | default | 0.000346 | 0.0031 | 12 | 0.1.0 |

### ode

| seed | steps | settings | `rates` | `vpt` | `errors` | wall time (s) | sciml |
|---|---|---|---|---|---|---|---|
| 2 | 500 | steps=500, width=64 | 0.04 / 3e+07 | non-finite | k1 1.5e-05 | 100 | 0.1.0 |
"""
    assert text == expected
    # Without defaults there is no settings column.
    assert render_results(records[:1], headlines).splitlines()[2] == (
        "| seed | steps | `relative_l2` | `max_error` | wall time (s) | sciml |"
    )
    assert render_results([], headlines) == "No finished run records were given.\n"


def test_render_results_without_a_headline_shows_every_scalar_metric(runs):
    records = collect_runs([runs])
    text = render_results(records, {"ode": ("rates",)})
    assert "| seed | steps | `relative_l2` | `max_error` | `ok` | wall time (s) | sciml |" in text
    # Lists and dicts are not scalars: the ode run shows only vpt (None, a non-finite value).
    assert "| 2 | 500 | non-finite | 100 | 0.1.0 |" in render_results(records, {"heat": ("ok",)})


def test_render_results_rejects_unknown_headlines(runs):
    records = collect_runs([runs])
    with pytest.raises(ValueError, match=r"heat: headline metric\(s\) relative_l3 appear in none of its runs"):
        render_results(records, {"heat": ("relative_l3",), "ode": ("rates",)})


def test_render_summary(runs):
    records = collect_runs([runs])
    headlines = {"heat": ("relative_l2", "ok"), "ode": ("vpt",)}
    descriptions = {"heat": "heat equation | PINN", "ode": "an ODE", "wave": "the wave equation"}
    expected = """\
| problem | what it does | measured at the default budget |
|---|---|---|
| `heat` | heat equation \\| PINN | `relative_l2` 0.000345 / 0.000346; `ok` yes / yes (seeds 0, 1) |
| `ode` | an ODE | `vpt` non-finite (seed 2) |
| `wave` | the wave equation | no run recorded yet |
"""
    assert render_summary(records, headlines, descriptions) == expected
    # With the defaults, the ode run (steps=500, width=64) is not shown as a default-budget figure.
    defaults = {"heat": _Config(), "ode": _Config()}
    summary = render_summary(records, headlines, descriptions, defaults=defaults).splitlines()
    assert summary[3] == "| `ode` | an ODE | no run recorded yet; 1 run with other settings in RESULTS.md |"
    assert summary[2] == expected.splitlines()[2]


def test_replace_generated_keeps_the_rest():
    text = "# Results\n\n<!-- generated -->\nold table\n<!-- end generated -->\n\n## History\nkept\n"
    new = replace_generated(text, "new table\n")
    assert new == "# Results\n\n<!-- generated -->\nnew table\n<!-- end generated -->\n\n## History\nkept\n"
    assert replace_generated(new, "new table\n") == new
    for broken in ("no markers", "<!-- end generated -->\n<!-- generated -->", "<!-- generated -->" * 2):
        with pytest.raises(ValueError, match="README.md must contain"):
            replace_generated(broken, "x", name="README.md")


def test_write_results_rewrites_only_the_generated_sections(tmp_path):
    from problems import burgers_pinn
    from problems.write_results import write_results

    default = dataclasses.asdict(burgers_pinn.Config())
    for seed, steps in ((0, default["steps"]), (1, 7)):
        record = {
            "problem": "burgers_pinn",
            "seed": seed,
            "steps": steps,
            "wall_time_s": 300.0,
            "config": {**default, "steps": steps},
            "metrics": {"relative_l2": 3.45e-4, "max_error": 3.6e-3, "rmse": 1.0},
        }
        (tmp_path / "runs" / str(seed)).mkdir(parents=True)
        (tmp_path / "runs" / str(seed) / "metrics.json").write_text(json.dumps(record))
    results, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    results.write_text("# R\n<!-- generated -->\n<!-- end generated -->\n## History\nkept\n")
    readme.write_text("intro\n<!-- generated -->\nold\n<!-- end generated -->\nrest\n")
    write_results([tmp_path / "runs"], results, readme)

    text = results.read_text()
    assert text.endswith("<!-- end generated -->\n## History\nkept\n")
    assert "| 0 | 1000 | default | 0.000345 | 0.0036 | 300 | — |" in text
    assert "| 1 | 7 | steps=7 | 0.000345 | 0.0036 | 300 | — |" in text
    row = next(line for line in readme.read_text().splitlines() if line.startswith("| `burgers_pinn`"))
    assert row.endswith(
        "| `relative_l2` 0.000345; `max_error` 0.0036 (seed 0); 1 run with other settings in RESULTS.md |"
    )
    assert readme.read_text().startswith("intro\n<!-- generated -->\n| problem |")
    assert readme.read_text().endswith("<!-- end generated -->\nrest\n")

    # A file without markers is refused before anything is written.
    readme.write_text("no markers\n")
    before = "# R\n<!-- generated -->\nold\n<!-- end generated -->\n"
    results.write_text(before)
    with pytest.raises(ValueError, match="README.md must contain"):
        write_results([tmp_path / "runs"], results, readme)
    assert results.read_text() == before
