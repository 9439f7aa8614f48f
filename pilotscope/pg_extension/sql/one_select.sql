-- pilotscope_subplans() and pilotscope_explain() plan exactly one SELECT, as
-- the caller, and execute nothing.
SELECT count(*) FROM pilotscope_subplans('SELECT 1; SELECT 2');
SELECT * FROM pilotscope_explain('SELECT 1; DELETE FROM t RETURNING 1', ARRAY['a:1']);
SELECT * FROM pilotscope_explain('SELECT 1;; DELETE FROM t', ARRAY['a:1']);
SELECT * FROM pilotscope_explain('DELETE FROM t', ARRAY['a:1']);
SELECT count(*) FROM pilotscope_explain('WITH d AS (DELETE FROM t RETURNING 1) SELECT 1', ARRAY['a:1']);
SELECT * FROM pilotscope_explain('SELECT 1 INTO t2', ARRAY['a:1']);
SELECT * FROM pilotscope_explain('-- only a comment', ARRAY['a:1']);
SELECT * FROM pilotscope_subplans('EXPLAIN SELECT 1');
SELECT count(*) FROM t;

-- one plan per vector, in order; each vector is set for its planning only
SET pilotscope.cards = 'a:3';
SELECT p->0->'Plan'->'Plan Rows' AS rows
FROM pilotscope_explain('SELECT * FROM t AS a', ARRAY['a:1', 'a:2', NULL, '', 'a:1e15']) p;
SHOW pilotscope.cards;
SELECT * FROM pilotscope_explain('SELECT * FROM t AS a', ARRAY['a:1', 'a:x']);
SHOW pilotscope.cards;
SELECT count(*) FROM pilotscope_explain('SELECT * FROM t AS a', ARRAY[]::text[]);
RESET pilotscope.cards;

SET pilotscope.enabled = off;
SELECT * FROM pilotscope_subplans('SELECT 1');
SELECT * FROM pilotscope_explain('SELECT 1', ARRAY['']);
RESET pilotscope.enabled;

-- the caller must be allowed to read what is planned, as for EXPLAIN
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_pilotscope_reader;
RESET client_min_messages;
CREATE ROLE regress_pilotscope_reader;
GRANT SELECT ON u TO regress_pilotscope_reader;
CREATE VIEW t_view AS SELECT * FROM t;
GRANT SELECT ON t_view TO regress_pilotscope_reader;
SET ROLE regress_pilotscope_reader;
SELECT key FROM pilotscope_subplans('SELECT * FROM u AS b', false);
SELECT key FROM pilotscope_subplans('SELECT * FROM u AS b, t AS a WHERE b.t_id = a.id', false);
SELECT key FROM pilotscope_subplans('SELECT * FROM u AS b WHERE EXISTS (SELECT FROM t AS a WHERE a.id = b.t_id)', false);
SELECT key FROM pilotscope_subplans('SELECT * FROM u AS b WHERE b.t_id IN (SELECT id FROM t)', false);
SELECT * FROM pilotscope_explain('SELECT * FROM t AS a', ARRAY['a:1']);
-- through a view whose owner may read t, as a SELECT could
SELECT key FROM pilotscope_subplans('SELECT * FROM u AS b, t_view AS v WHERE b.t_id = v.id', false);
RESET ROLE;
DROP VIEW t_view;
DROP OWNED BY regress_pilotscope_reader;
DROP ROLE regress_pilotscope_reader;
