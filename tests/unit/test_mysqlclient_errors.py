"""mysqlclient's errors become the PyMySQL errors every catch site expects."""

from __future__ import annotations

import importlib.util

import pymysql.err
import pytest

from tests.conftest import IN_CI

if importlib.util.find_spec("MySQLdb") is None:  # the optional `mysqlclient` extra
    if IN_CI:
        raise RuntimeError("CI installs the mysqlclient extra")
    pytest.skip("mysqlclient is not installed", allow_module_level=True)

import MySQLdb

from engine.db_mysqlclient import translated


def test_a_server_error_gets_pymysqls_class_for_its_number():
    # NOTE: mysqlclient files 1366 (a UTF-8 text cut at its column's size) as OperationalError,
    # which the database layer reads as "unavailable" (a 503); PyMySQL files it as DataError.
    cut = translated(MySQLdb.OperationalError(1366, "Incorrect string value: '\\xC3\\xA9'"))
    assert type(cut) is pymysql.err.DataError
    assert cut.args == (1366, "Incorrect string value: '\\xC3\\xA9'")
    assert type(translated(MySQLdb.DataError(1406, "Data too long"))) is pymysql.err.DataError
    assert type(translated(MySQLdb.OperationalError(1213, "Deadlock"))) is \
        pymysql.err.OperationalError


def test_a_client_error_keeps_its_class():
    lost = translated(MySQLdb.OperationalError(2013, "Lost connection"))
    assert type(lost) is pymysql.err.OperationalError
    assert type(translated(MySQLdb.InterfaceError("closed"))) is pymysql.err.InterfaceError
