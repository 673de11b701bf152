"""SQLite: timestamps stored as `2026-12-02T15:00:00` rewritten as `2026-12-02 15:00:00`.

A server started with `serve --migrate` wrote the `T` form (yoyo had replaced the process's
datetime adapter; see `engine.db.use_sqlite_types`), while every query compares with the space
form, so such tasks looked due, leased or finished a day later than they were. MySQL stores
DATETIME natively: nothing to do there. Nothing to undo either: the space form is the only one
the code ever meant to write.
"""

from yoyo import step

from engine.migrate import dialect_of

__depends__ = {"0007_claim_lease"}

# Our tables: not SQLite's, yoyo's or the migration ledger's (`_migration_hashes`).
TABLES = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
          "ESCAPE '!' AND name NOT LIKE '!_%' ESCAPE '!' AND name NOT LIKE '%yoyo%'")
# NOTE: identifiers come from the schema itself, never from outside.
REWRITE = ("UPDATE \"{table}\" SET \"{column}\" = substr(\"{column}\", 1, 10) || ' ' || "
           "substr(\"{column}\", 12) WHERE \"{column}\" LIKE '____-__-__T%'")


def rewrite(raw_connection):
    if dialect_of(raw_connection) != "sqlite":
        return
    cursor = raw_connection.cursor()
    for (table,) in cursor.execute(TABLES).fetchall():
        columns = [row[1] for row in cursor.execute(f'PRAGMA table_info("{table}")').fetchall()
                   if row[2].upper().partition("(")[0].strip() == "DATETIME"]
        for column in columns:
            cursor.execute(REWRITE.format(table=table, column=column))
    cursor.close()


steps = [step(rewrite, None)]
