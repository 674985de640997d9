"""Fixtures for the web view: the real bot (tests/support/harness.py) with Sign in with Slack set up
against the stand-in, and a cookie-keeping client over its WSGI app."""

from __future__ import annotations

import pytest

from tests.support.web import client_for, web_settings


@pytest.fixture
def make_web(make_bot, standin):
    def make(clock=None, **overrides):
        bot = make_bot(clock, **web_settings(standin, **overrides))
        return bot, client_for(bot)

    return make


@pytest.fixture
def web_bot(make_web):
    return make_web()


@pytest.fixture
def bot(web_bot):
    return web_bot[0]


@pytest.fixture
def client(web_bot):
    return web_bot[1]
