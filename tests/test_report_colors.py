"""Chart colours in reports: China always red, other countries distinct and never red-like."""

from critmin.report.html import CHINA_COLOR, _reddish, country_colors


def test_china_red_and_others_distinct():
    codes = ["USA", "CHN", "AUS", "MMR", "THA", "TJK", "RUS", "VNM", "JPN", "IDN", "CHL", "ARG", "USA", "CHN"]
    colors = country_colors(codes)
    assert colors["CHN"] == CHINA_COLOR
    others = [colors[c] for c in dict.fromkeys(codes) if c != "CHN"]
    assert len(set(others)) == len(others)
    assert not any(_reddish(c) for c in others)
    assert _reddish(CHINA_COLOR)
