"""Face boxes of the test web's real photos follow each served copy: resized, cropped, mirrored; a face a crop cuts
below half its area becomes an ignore region. And the detection matching of ``evaluate``."""

from __future__ import annotations

from pathlib import Path

from audit.testbed.detection import iou, match_faces
from audit.testbed.testweb.realphotos import RealPhoto, load_corpus, served_boxes
from audit.testbed.testweb.world import build_world

REAL = RealPhoto("x.jpg", "/nonexistent/x.jpg", 1000, 500, ((100, 100, 200, 200), (900, 0, 100, 100)),
                 ((0, 400, 50, 50),), "owner/repo:x.jpg", "0" * 40, "CC0-1.0")


def test_resize_scales_boxes() -> None:
    faces, ignore = served_boxes(REAL, base=(500, 250), crop=None, mirror=False)
    assert faces == [(50, 50, 100, 100), (450, 0, 50, 50)]
    assert ignore == [(0, 200, 25, 25)]


def test_mirror_flips_boxes_left_to_right() -> None:
    faces, ignore = served_boxes(REAL, base=(1000, 500), crop=None, mirror=True)
    assert faces == [(700, 100, 200, 200), (0, 0, 100, 100)]
    assert ignore == [(950, 400, 50, 50)]


def test_crop_shifts_clips_and_demotes_half_cut_faces() -> None:
    # keep x 150..960, y 50..480: the first face loses a quarter (kept, clipped), the second 70% (an ignore region
    # now), the ignore region is cut away entirely
    faces, ignore = served_boxes(REAL, base=(1000, 500), crop=(150, 50, 960, 480), mirror=False)
    assert faces == [(0, 50, 150, 200)]
    assert ignore == [(750, 0, 60, 50)]
    # keep x 0..940: the second face keeps 40% of its area: no longer a labelled face, an ignore region
    faces, ignore = served_boxes(REAL, base=(1000, 500), crop=(0, 0, 940, 500), mirror=False)
    assert faces == [(100, 100, 200, 200)]
    assert (900, 0, 40, 100) in ignore


def test_crop_then_mirror() -> None:
    faces, _ = served_boxes(REAL, base=(1000, 500), crop=(100, 0, 600, 500), mirror=True)
    assert faces == [(300, 100, 200, 200)]  # x 0..200 in the 500-wide crop, mirrored to 300..500


def test_matching_takes_each_face_once_and_spares_ignore_regions() -> None:
    truth = [(0, 0, 100, 100), (200, 0, 100, 100)]
    found = [(5, 5, 100, 100), (0, 0, 95, 95), (205, 0, 100, 100), (500, 500, 50, 50), (900, 900, 40, 40)]
    taken, verdicts = match_faces(found, truth, [(500, 500, 50, 50)])
    assert taken == [True, True]
    assert verdicts == ["hit", "false", "hit", "ignored", "false"]  # the second box on face 0 is a duplicate
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150 and iou((0, 0, 1, 1), (2, 2, 1, 1)) == 0.0


def test_missing_corpus_gives_nothing_and_says_why(tmp_path: Path) -> None:
    photos, note = load_corpus(tmp_path)
    assert photos == [] and "not found" in note
    (tmp_path / "boxes.jsonl").write_text('{"file": "a.jpg", "width": "not a number"\n', encoding="utf-8")
    photos, note = load_corpus(tmp_path)
    assert photos == [] and "unreadable" in note


def test_every_served_file_has_its_own_url() -> None:
    """Real photos can be smaller than a site's smaller copy (a 115 px portrait): the site then serves one copy, never
    two encodings under one URL."""
    real, note = load_corpus()
    assert real, note
    for seed in (7, 11, 2022):
        world = build_world(2000 if seed == 2022 else 60, seed, real, note)
        assert world.graphics is not None
        urls = [v.url for v in world.variants] + [g.url for g in world.graphics.items]
        assert len(urls) == len(set(urls)), seed
        assert world.real_photos and {p.real.file for p in world.real_photos if p.real} <= {r.file for r in real}
