"""Fixtures for the web view: the real bot (tests/support/harness.py) with Sign in with Slack set up
against the stand-in, and a cookie-keeping client over its WSGI app."""

from __future__ import annotations

import pytest

from tests.support.web import client_for, web_settings


@pytest.fixture
def web_bot(make_bot, standin):
    return make_bot(**web_settings(standin))


@pytest.fixture
def client(web_bot):
    return client_for(web_bot)
