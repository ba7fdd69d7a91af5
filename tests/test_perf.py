"""`benchmark perf` runs and reports every figure (the figures themselves are not asserted)."""

import json

import pytest

from conftest import make_class_folders
from test_cli import cli

pytestmark = pytest.mark.slow  # end-to-end runs: `python -m pytest -m "not slow"` leaves them out


def test_perf_prints_every_figure(tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path, {"Real": (0, 0, 0), "A": (50, 0, 0), "B": (0, 50, 0)}, videos=6, frames=1)
    result = cli("perf", data, "--backbone", tiny_backbone, "--limit", "6", "--epochs", "2", "--workers", "0")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("encoder_img_s", "pipeline_img_s", "suite_over_pipeline", "seed_loop_over_suite",
                "cold_over_warm", "peak_rss_mb", "cache_bytes_per_image", "perturbation_grid_over_clean_passes"):
        assert figures[key] > 0, key
    assert figures["cold_images_encoded"] == figures["images"] == 18
    assert figures["warm_images_encoded"] == 0 and figures["warm_models_loaded"] == 0


def test_perf_names_a_missing_folder(tmp_path):
    result = cli("perf", tmp_path / "nope")
    assert result.returncode == 2 and "is not a folder" in result.stderr


def test_perf_without_a_folder_generates_its_own_data(tiny_backbone):
    result = cli("perf", "--backbone", tiny_backbone, "--limit", "4", "--epochs", "1", "--workers", "0")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["images"] > 0 and figures["cold_images_encoded"] == figures["images"]
    assert "generated synthetic faces" in result.stderr


def test_perf_report_times_a_whole_study_report():
    result = cli("perf", "--report", "--report-images", "200")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cells"] == 144 and figures["bootstrap"] == 1000 and figures["images_per_cell"] == 200
    assert figures["report_total_s"] > 0


def test_perf_ray_times_a_suite_three_ways(tmp_path, tiny_backbone):
    """`benchmark perf --ray SUITE`: local, local at 1 thread, Ray; and encoding on Ray workers."""
    data = make_class_folders(tmp_path / "data", {"Real": (0, 0, 0), "A": (50, 0, 0), "B": (0, 50, 0)}, videos=6)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\ndata: {{root: {data}, real: Real}}\npairings: {{matrix: [A, B]}}\n"
                     f"detectors: {{clip-adapter: {{backbone: {tiny_backbone}, pretrained: none, epochs: 2}}}}\n")
    result = cli("perf", "--ray", suite)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cells"] == 4 and figures["images"] > 0
    for key in ("suite_local_s", "suite_local_1_thread_s", "suite_ray_s", "ray_over_local", "encode_local_img_s",
                "encode_ray_first_img_s", "encode_ray_warm_img_s"):
        assert figures[key] > 0, key
    assert figures["same_results_ray_vs_local_1_thread"] == {"clip-adapter": True}


def test_perf_generator_times_blending_and_an_epoch_generated_against_stored():
    result = cli("perf", "--generator", "sbi", "--limit", "6", "--workers", "0", "--option", "size=16",
                 "--option", "channels=4")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["generator"] == "sbi" and figures["detector"] == "pixel-cnn" and figures["blended"] == 6
    assert figures["blends_per_s_per_core"] > 0 and len(figures["epoch_generated_s"]) == 3
    assert figures["generated_over_stored"] > 0
