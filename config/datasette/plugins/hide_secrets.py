"""Datasette plugin: the columns that hold secrets read as NULL in every query, canned or typed in.

The registry keeps hardware-hash bytes (hardware_hashes.bytes) and the SHA-256 of each link's secret token
(links.token_sha256). Datasette refuses the hardware_hashes table (metadata.json), but a typed-in SELECT, a
foreign-key label or a JSON export could still read these columns; a SQLite authorizer on every connection to the
registry turns each read of them into NULL instead. The columns come from metadata.json's
"plugins": {"hide-secrets": {"columns": {table: [column, ...]}}} (written by generate-metadata.py); without that
block Datasette refuses to start, so the UI never runs with the secrets showing.

It changes nothing in the database: Datasette opens it read-only (mode=ro) and the daemon alone writes it.
"""

import sqlite3

from datasette import hookimpl


def _hidden_columns(datasette):
    config = datasette.plugin_config("hide-secrets") or {}
    return {(table, column) for table, columns in config.get("columns", {}).items() for column in columns}


@hookimpl
def startup(datasette):
    if not _hidden_columns(datasette):
        raise RuntimeError(
            "hide_secrets: metadata.json has no plugins.hide-secrets.columns: "
            "run datasette with --metadata config/datasette/metadata.json"
        )


@hookimpl
def prepare_connection(conn, database, datasette):
    if database == "_internal":
        return
    hidden = _hidden_columns(datasette)

    def authorizer(action, table, column, schema, source):
        if action == sqlite3.SQLITE_READ and (table, column) in hidden:
            return sqlite3.SQLITE_IGNORE
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorizer)
