-- The SQL contract of pilotscope.cards and pilotscope_subplans(): keys,
-- malformed values, and the bound on a pushed value.
CREATE TABLE t (id int PRIMARY KEY, x int);
CREATE TABLE u (id int PRIMARY KEY, t_id int);
INSERT INTO t SELECT i, i % 10 FROM generate_series(1, 1000) i;
INSERT INTO u SELECT i, i * 7 % 1000 + 1 FROM generate_series(1, 100) i;
ANALYZE t, u;

-- every base and join rel, keyed by its sorted aliases
SELECT block, kind, nrels, key, inner_only, sql
FROM pilotscope_subplans('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5');
-- a separately planned level gets an "N/" prefix; outer joins are not inner_only
SELECT block, kind, key, inner_only
FROM pilotscope_subplans('WITH m AS MATERIALIZED (SELECT * FROM t WHERE x = 1) '
                         'SELECT count(*) FROM u LEFT JOIN m ON m.id = u.t_id', false);

-- pushed rows are used; keys are order- and space-insensitive; unknown keys are ignored
SET pilotscope.cards = 'b:7; a  b :70; nosuch:1';
SELECT key, pg_rows, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5', false);
SELECT p->0->'Plan'->'Plans'->0->'Plan Rows' AS join_rows
FROM pilotscope_explain('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id', ARRAY['a b:70']) p;

-- malformed values are rejected naming the entry; the setting keeps its last valid value
SET pilotscope.cards = 'a b';
SET pilotscope.cards = 'a:12; b:abc';
SET pilotscope.cards = 'a:-1';
SET pilotscope.cards = 'a:nan';
SET pilotscope.cards = 'a:-inf';
SET pilotscope.cards = 'a:1; a:2';
SET pilotscope.cards = 'a a:1';
SET pilotscope.cards = ':5';
SET pilotscope.cards = 'a:';
SET pilotscope.cards = '99999999/a:1';
SHOW pilotscope.cards;
SET pilotscope.cards = ' ; ';
SHOW pilotscope.cards;
RESET pilotscope.cards;

-- a pushed value never exceeds what the rel can hold: a table's tuple count,
-- for a join the product of its tables' counts
SET pilotscope.cards = 'a:1e15; b:1e15; a b:1e300';
SELECT key, pg_rows, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id', false);
-- ... so that a parallel hash join sized by such a value runs
-- (a pushed 1e15 failed with "invalid DSA memory alloc request size")
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET enable_nestloop = off;
SET enable_mergejoin = off;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SET enable_parallel_hash = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id;
SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id;
RESET ALL;
