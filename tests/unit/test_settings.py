"""Settings refuse what the server could not run with, naming the variable."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings


def test_an_unknown_cascade_format_or_a_non_amqp_broker_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="IM_CASCADE_FORMAT"):
        load_settings({"IM_CASCADE_FORMAT": "nope"})
    with pytest.raises(SettingsError, match="IM_AMQP_URL"):
        load_settings({"IM_AMQP_URL": "http://x"})
