"""MIO_DATABASE_URL mistakes seen in the text alone (no connection is made)."""

from __future__ import annotations

import pytest

from store.dburl import check_database_url


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/mio.db",
        "sqlite+aiosqlite:////srv/mio/mio.db",
        "postgres://mio@db/mio",
        "postgresql://mio:pw@db:5432/mio?sslmode=require",
        "postgresql+asyncpg://mio@db/mio",
    ],
)
def test_urls_mio_can_open_pass(url: str) -> None:
    assert check_database_url(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqllite:///x.db", "Did you mean sqlite://"),
        ("postgress://db/mio", "Did you mean postgresql://"),
        ("mio.db", "write sqlite:///mio.db"),
        ("/srv/mio.db", "write sqlite:////srv/mio.db (four slashes"),
        ("postgresql+psycopg2://db/mio", "the driver psycopg2"),
        ("://nothing", "not a database URL"),
    ],
)
def test_mistakes_name_the_setting_and_an_example(url: str, says: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_database_url(url)
    message = str(refused.value)
    assert message.startswith("MIO_DATABASE_URL") and says in message
    assert "sqlite:///" in message
