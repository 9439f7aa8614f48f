#!/bin/sh
# First start only: load the pilotscope settings (and library) on every later start.
set -e
echo "include '/etc/postgresql/pilotscope.conf'" >> "$PGDATA/postgresql.conf"
