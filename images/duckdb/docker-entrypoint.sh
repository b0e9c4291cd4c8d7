#!/bin/sh
# Entrypoint of exec-duckdb: flags alone run the DuckDB CLI with them
# (`IMAGE -csv -c "SELECT 42"`); any other command runs as given
# (`IMAGE duckdb -csv ...`, `IMAGE sh -c ...`).
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- duckdb "$@"
fi
exec "$@"
