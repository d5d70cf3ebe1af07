"""Masking artifact URLs and free text: what stays readable, what never shows."""

import pytest

from microdc.provisioning.masking import mask_text, mask_url


@pytest.mark.parametrize(("url", "masked"), [
    ("https://registry.example/m.joblib", "https://registry.example/m.joblib"),
    ("https://u@registry.example:8443/m?sig=abc", "https://********@registry.example:8443/m?sig=********"),
    ("http://[fd00::1]/m?token", "http://[fd00::1]/m?token=********"),
    ("https://registry.example/m#frag", "https://registry.example/m#********"),
    ("https://registry.example:99999/m", "********"),  # a port that cannot be parsed: nothing of it shows
    ("/srv/models/m.joblib", "/srv/models/m.joblib"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mask_text_leaves_short_values_and_plain_words_alone():
    text = "r2 failed on gpu-01; fetched https://a:b@host/x?sig=1 with WORKERS 2 and key abcdefgh"
    assert mask_text(text, secrets=["2", "abcdefgh"]) == (
        "r2 failed on gpu-01; fetched https://********@host/x?sig=******** with WORKERS 2 and key ********")
