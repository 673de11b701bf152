"""Rate limit config, the trusted-proxy settings and the client address behind proxies."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load
from engine.proxies import TrustedProxies, parse_address
from engine.ratelimit import RateLimit


def test_a_limit_from_its_row_config():
    assert RateLimit.from_config({"requests": 5, "window_seconds": 60}) == RateLimit(5, 60, "key")
    assert RateLimit.from_config({"requests": 1, "window_seconds": 1, "scope": "both"}).scope \
        == "both"


@pytest.mark.parametrize(("config", "words"), [
    ({"requests": 0, "window_seconds": 60}, ["requests"]),
    ({"requests": True, "window_seconds": 60}, ["requests"]),
    ({"requests": "5", "window_seconds": 60}, ["requests"]),
    ({"requests": 5}, ["window_seconds"]),
    ({"requests": 5, "window_seconds": 86_401}, ["window_seconds", "86400"]),
    ({"requests": 5, "window_seconds": 60, "scope": "user"}, ["scope", "key, ip, both"]),
    ({"requests": 5, "window_seconds": 60, "per": "ip"}, ["unknown", "per"]),
])
def test_bad_limits_name_what_is_wrong(config, words):
    with pytest.raises(ValueError) as caught:
        RateLimit.from_config(config)
    for word in words:
        assert word in str(caught.value)


def test_trusted_proxies_setting_is_parsed_and_normalised():
    config = load({"TASKMANAGER_TRUSTED_PROXIES": "127.0.0.1, 10.1.2.3/8 ,::1"})
    assert config.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert load({}).trusted_proxies == ()


@pytest.mark.parametrize(("name", "value"), [
    ("TRUSTED_PROXIES", "127.0.0.1,localhost"), ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("RATE_LIMIT", "maybe"), ("RATE_LIMIT_FAIL", "sometimes"),
])
def test_bad_settings_stop_the_start_naming_the_setting(name, value):
    with pytest.raises(ConfigError) as caught:
        load({f"TASKMANAGER_{name}": value})
    assert f"TASKMANAGER_{name}" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("203.0.113.7", "203.0.113.7"), (" 203.0.113.7:4711 ", "203.0.113.7"),
    ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]:443", "2001:db8::1"),
    ("::ffff:198.51.100.2", "198.51.100.2"), ("unknown", None), ("", None),
    ("1.2.3.4.5", None),
])
def test_addresses_in_headers(text, expected):
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


def client(trusted: str, peer: str, forwarded: str | None = None) -> str:
    env = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        env["HTTP_X_FORWARDED_FOR"] = forwarded
    return TrustedProxies([t for t in trusted.split(",") if t]).client_address(env)


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client("", "127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards():
    assert client("10.0.0.0/8", "198.51.100.4", "203.0.113.9") == "198.51.100.4"


def test_a_trusted_peer_gives_the_right_most_untrusted_hop():
    # The client claims 1.1.1.1; the proxy chain appended the real client and then itself.
    assert client("10.0.0.0/8", "10.0.0.2", "1.1.1.1, 203.0.113.9, 10.0.0.1") == "203.0.113.9"


def test_a_trusted_peer_without_the_header_is_the_client():
    assert client("127.0.0.1", "127.0.0.1") == "127.0.0.1"


def test_all_hops_trusted_gives_the_left_most():
    assert client("10.0.0.0/8", "10.0.0.2", "10.0.0.9, 10.0.0.1") == "10.0.0.9"


def test_garbage_stops_at_the_last_good_hop():
    assert client("10.0.0.0/8", "10.0.0.2", "203.0.113.9, nonsense, 10.0.0.1") == "10.0.0.1"
    assert client("127.0.0.1", "127.0.0.1", "nonsense") == "127.0.0.1"


def test_ipv6_clients_count_per_64():
    assert client("", "2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client("::1", "::1", "2001:db8:1:2::99") == "2001:db8:1:2::/64"
