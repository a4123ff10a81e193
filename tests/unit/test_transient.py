"""Which database errors mean "try again later" (the update is kept) and which are permanent."""

from __future__ import annotations

import asyncpg
import pytest

from assistant.store.engine import transient


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.InterfaceError("connection is closed"),  # raw, from a driver statement in an outage
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    ConnectionRefusedError(111, "Connect call failed"),
])
def test_an_outage_is_transient(error: BaseException) -> None:
    assert transient(error)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.exceptions.NumericValueOutOfRangeError("value out of range for type bigint"),
    ValueError("not a database error"),
])
def test_a_permanent_error_is_not(error: BaseException) -> None:
    assert not transient(error)
