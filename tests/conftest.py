"""Shared pytest set-up: the loopback Discord stub and a small corpus on disk, for every module.

The word table (``bot/engine/word_vectors.py``) is switched off for every engine a test builds
beside a database, the command line's included: distilling it takes half a minute, in a thread
that would run beside the test. The tests of the table ask for ``word_vectors`` instead.
"""

import os

from bot.engine.word_vectors import ENVIRONMENT_SWITCH

os.environ[ENVIRONMENT_SWITCH] = "0"

pytest_plugins = [
    "tests.discord_stub.fixtures",
    "tests.corpus_fixtures",
    "tests.word_table",
]
