"""engine/etag.py: the tag is a strong hash of the bytes; If-None-Match as RFC 9110 reads it."""

from __future__ import annotations

import pytest

from engine.etag import etag_of, none_match

TAG = etag_of(b'{"success":true}')


def test_the_tag_is_strong_quoted_and_follows_the_bytes():
    assert TAG.startswith('"') and TAG.endswith('"') and len(TAG) == 34
    assert etag_of(b'{"success":true}') == TAG
    assert etag_of(b'{"success":true} ') != TAG


@pytest.mark.parametrize("header", [TAG, f'"a", {TAG}', f"W/{TAG}", "*", f" {TAG} ",
                                    f'{TAG},"b"'])
def test_matching_headers(header):
    assert none_match(header, TAG)


@pytest.mark.parametrize("header", [None, "", '"other"', TAG[1:-1], f"W/{TAG[:-1]}", "**",
                                    f'"x{TAG[1:]}'])
def test_headers_that_do_not_match(header):
    assert not none_match(header, TAG)
