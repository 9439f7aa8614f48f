/* pilotscope--1.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pilotscope" to load this file. \quit

-- Plan (without executing) one SELECT and return every base and join
-- relation the planner considered, with PostgreSQL's row estimate, the row
-- count pushed through pilotscope.cards (if any) and a SELECT count(*) text.
CREATE FUNCTION pilotscope_subplans(query text, with_sql boolean DEFAULT true)
RETURNS TABLE(block int, kind text, nrels int, key text, pg_rows float8,
              injected_rows float8, inner_only boolean, sql text)
AS 'MODULE_PATHNAME', 'pilotscope_subplans'
LANGUAGE C STRICT VOLATILE;

-- The sub-plans of the last top-level statement planned while
-- pilotscope.record was on (rows or sql).
CREATE FUNCTION pilotscope_last()
RETURNS TABLE(block int, kind text, nrels int, key text, pg_rows float8,
              injected_rows float8, inner_only boolean, sql text)
AS 'MODULE_PATHNAME', 'pilotscope_last'
LANGUAGE C VOLATILE;

-- Executor time in seconds of the session's previous top-level statement
-- (planning excluded); NULL before any.
CREATE FUNCTION pilotscope_last_execution_time()
RETURNS float8
AS 'MODULE_PATHNAME', 'pilotscope_last_execution_time'
LANGUAGE C VOLATILE;

-- EXPLAIN (FORMAT JSON) one SELECT once per pilotscope.cards value, in one
-- round trip (Lero plans all its candidate cardinality vectors this way).
-- Plans come back in the order of `cards`; each value is set for its own
-- planning only, so the caller's pilotscope.cards is unchanged afterwards.
CREATE FUNCTION pilotscope_explain(query text, cards text[])
RETURNS SETOF json
AS 'MODULE_PATHNAME', 'pilotscope_explain'
LANGUAGE C STRICT VOLATILE;
