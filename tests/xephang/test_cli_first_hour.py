"""The command line a new user meets first (issue 22, point 9): `xephang simulate`
without a config says so and points to the example; its help has a description and an
example; its words read as Vietnamese; the chart's notes stay on the image."""

from __future__ import annotations

from datetime import time

import pytest
from PIL import Image

from xephang.cli import main
from xephang.simchart import draw_chart
from xephang.simulate import OptionResult, Staffing


def test_simulate_without_a_config_points_to_the_example(capsys, monkeypatch):
    monkeypatch.delenv("XEPHANG_CONFIG", raising=False)
    assert main(["simulate"]) != 0
    err = capsys.readouterr().err
    assert "no config given" in err and "examples/commune.toml" in err and "[[sites]]" not in err


def test_simulate_help_has_a_description_and_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    assert "smallest staffing" in out and "example: xephang simulate --config examples/commune.toml" in out


def test_the_chart_notes_stay_on_the_image_and_read_in_vietnamese(tmp_path):
    staffing = Staffing(counters=("quay-1",), label="1 quầy cả ngày", windows={"quay-1": (time(7, 30), time(17, 0))})
    starved = OptionResult(staffing, [20.0] * 5, [0.37] * 5, [3600.0] * 50, [5400.0] * 50)
    chart = draw_chart([starved], 60, 90.0, None, "Xã Thử Nghiệm: cần bao nhiêu quầy?", tmp_path / "c.png")
    image = Image.open(chart).convert("RGB")
    width, height = image.size
    # The red note ("tới 37% chưa được phục vụ") ends before the right edge: no red in the last 10 columns.
    red = {(0xC5, 0x30, 0x30)}
    edge = [image.getpixel((x, y)) for x in range(width - 10, width) for y in range(height)]
    assert not red & set(edge)
    assert any(image.getpixel((x, y)) in red for x in range(width // 2, width) for y in range(height))


def test_simulate_output_says_seed_not_hat_giong(tmp_path, capsys):
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "examples" / "commune.toml"
    code = main(["simulate", "--config", str(config), "--days", "2", "--max-counters", "2", "--chart", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert code in (0, 3) and "hạt giống" not in out and "mã ngẫu nhiên (seed) 1" in out
