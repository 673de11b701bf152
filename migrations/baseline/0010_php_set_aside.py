"""Adopting the PHP TaskManager's database, part 1: check it, then set its tables aside.

Only `taskmanager migrate baseline` runs this folder (see engine/baseline.py). This step renames
the PHP tables to `legacy_*` in one atomic RENAME; baseline then runs our 0001-0003 exactly as on
a fresh install, and 0011 copies the rows into them. MySQL/MariaDB only: the PHP system ran there.
"""

from yoyo import step

# table -> a column only the PHP schema has (how we know whose database this is)
LEGACY = {"task_types": "param_schema_json", "tasks": "params_json",
          "task_history": "status_change", "api_endpoints": "action_config_json"}
OPTIONAL = ("api_validations", "api_transformations")
PREFIX = "legacy_"
COLUMNS = ("SELECT table_name, column_name FROM information_schema.columns "
           "WHERE table_schema = DATABASE()")


def _columns(conn):
    cursor = conn.cursor()
    cursor.execute(COLUMNS)
    found = {}
    for table, column in cursor.fetchall():
        found.setdefault(table, set()).add(column)
    cursor.close()
    return found


def _rename(conn, pairs):
    if pairs:
        cursor = conn.cursor()
        cursor.execute("RENAME TABLE " + ", ".join(f"`{a}` TO `{b}`" for a, b in pairs))
        cursor.close()


def set_aside(conn):
    if type(conn).__module__.startswith("sqlite3"):
        raise RuntimeError("the PHP TaskManager ran on MySQL/MariaDB: there is no SQLite "
                           "database of it to adopt")
    found = _columns(conn)
    missing = [f"{t}.{c}" for t, c in LEGACY.items() if c not in found.get(t, set())]
    if missing:
        raise RuntimeError("this is not the PHP TaskManager's schema (no "
                           + ", ".join(missing) + "): nothing to adopt")
    tables = [t for t in (*LEGACY, *OPTIONAL) if t in found]
    taken = [PREFIX + t for t in tables if PREFIX + t in found]
    if taken:
        raise RuntimeError(f"cannot set the PHP tables aside: {', '.join(taken)} exist already")
    _rename(conn, [(t, PREFIX + t) for t in tables])


def put_back(conn):
    found = _columns(conn)
    _rename(conn, [(PREFIX + t, t) for t in (*LEGACY, *OPTIONAL)
                   if PREFIX + t in found and t not in found])


steps = [step(set_aside, put_back)]
