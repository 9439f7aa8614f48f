/* pilotscope--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pilotscope UPDATE" to load this file. \quit

-- 1.1 finds its library through dynamic_library_path ('pilotscope', not '$libdir/pilotscope'),
-- so that each embedded server runs its own checkout's build. Re-point the C functions.
CREATE OR REPLACE FUNCTION pilotscope_subplans(query text, with_sql boolean DEFAULT true)
RETURNS TABLE(block int, kind text, nrels int, key text, pg_rows float8,
              injected_rows float8, inner_only boolean, sql text)
AS 'MODULE_PATHNAME', 'pilotscope_subplans'
LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION pilotscope_last()
RETURNS TABLE(block int, kind text, nrels int, key text, pg_rows float8,
              injected_rows float8, inner_only boolean, sql text)
AS 'MODULE_PATHNAME', 'pilotscope_last'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION pilotscope_last_execution_time()
RETURNS float8
AS 'MODULE_PATHNAME', 'pilotscope_last_execution_time'
LANGUAGE C VOLATILE;

-- 1.0's PL/pgSQL pilotscope_explain ran whatever followed a ';' in the query;
-- 1.1's takes exactly one SELECT and plans it once per cards value.
CREATE OR REPLACE FUNCTION pilotscope_explain(query text, cards text[])
RETURNS SETOF json
AS 'MODULE_PATHNAME', 'pilotscope_explain'
LANGUAGE C STRICT VOLATILE;
