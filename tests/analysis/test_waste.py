"""`analyze_listings` rules on hand-made layers: A/M/D, waste once per hidden copy,
whiteouts and opaque dirs hiding lower layers only, explanations naming instructions."""

from __future__ import annotations

from analysis_tars import Member, listing, steps

from layerfs.analysis.dive import analyze_listings
from layerfs.analysis.model import ImageAnalysis


def run(*layers: list[Member]) -> ImageAnalysis:
    return analyze_listings(steps(len(layers)), [listing(m) for m in layers])


def test_changes_and_sizes_per_layer() -> None:
    a = run([("etc", None), ("etc/a", b"1" * 100), ("b", b"2" * 50)],
            [("etc/a", b"3" * 10), ("c", b"4" * 5), (".wh.b", b"")])
    base, top = a.layers
    assert [(c.kind, c.path, c.size) for c in base.changes] == [
        ("A", "/etc", 0), ("A", "/etc/a", 100), ("A", "/b", 50)]
    assert [(c.kind, c.path, c.size) for c in top.changes] == [
        ("M", "/etc/a", 10), ("A", "/c", 5), ("D", "/b", 50)]
    assert (base.size, top.size, a.total_size, a.user_size) == (150, 15, 165, 15)
    assert a.wasted_bytes == 150 and base.wasted_bytes == 150
    assert a.efficiency == 1 - 150 / 165
    assert a.user_wasted_percent == 100 * 150 / 15


def test_each_hidden_copy_counted_once_and_explained() -> None:
    a = run([("f", b"x" * 30)], [("f", b"y" * 20)], [("f", b"z" * 10)], [(".wh.f", b"")])
    [item] = a.waste
    assert item.total_bytes == 60
    assert [(c.layer_index, c.size, c.kind, c.hidden_by) for c in item.copies] == [
        (0, 30, "overwritten", 1), (1, 20, "overwritten", 2), (2, 10, "deleted", 3)]
    assert "RUN step 0" in item.explanation and "RUN step 3" in item.explanation


def test_deleted_directory_wastes_its_files() -> None:
    a = run([("d", None), ("d/x", b"1" * 7), ("d/sub", None), ("d/sub/y", b"2" * 9)],
            [(".wh.d", b"")])
    assert {w.path: w.total_bytes for w in a.waste} == {"/d/x": 7, "/d/sub/y": 9}
    [d] = a.layers[1].changes
    assert (d.kind, d.path, d.size, d.is_dir) == ("D", "/d", 16, True)


def test_opaque_dir_hides_lower_layers_but_not_its_own() -> None:
    a = run([("d", None), ("d/old", b"1" * 4)],
            [("d", None), ("d/new", b"2" * 3), ("d/.wh..wh..opq", b"")])
    assert [(w.path, w.copies[0].kind) for w in a.waste] == [("/d/old", "deleted")]
    assert a.wasted_bytes == 4


def test_whiteout_and_new_file_of_one_layer_keep_the_new_file() -> None:
    a = run([("f", b"1" * 4)], [("f", b"2" * 6), (".wh.f", b"")])
    assert a.wasted_bytes == 4
    assert [c.kind for c in a.waste[0].copies] == ["overwritten"]


def test_directory_replaced_by_a_file_hides_its_subtree() -> None:
    a = run([("d", None), ("d/x", b"1" * 5)], [("d", b"file")])
    assert {w.path: w.copies[0].kind for w in a.waste} == {"/d/x": "deleted"}


def test_to_dict_is_json_ready() -> None:
    import json

    a = run([("f", b"1")], [("f", b"22")])
    data = json.loads(json.dumps(a.to_dict()))
    assert data["layers"][1]["counts"] == {"A": 0, "M": 1, "D": 0}
    assert data["waste"][0]["copies"][0]["kind"] == "overwritten"
