-- The count SQL of every sub-plan counts what that sub-plan produces: outer,
-- semi and anti joins included.  Parameterized sub-plans (per row of other
-- rels) are pulled and pushed with their own keys "rels | outer rels".
CREATE TABLE w (id int PRIMARY KEY, u_id int, y int);
INSERT INTO w SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 150 + 1 END, i % 3
FROM generate_series(1, 300) i;
CREATE INDEX ON w (u_id);
ANALYZE w;

-- each sub-plan's SQL, and what it counts
CREATE FUNCTION pg_temp.counted(query text)
RETURNS TABLE(kind text, key text, count bigint, sql text) LANGUAGE plpgsql AS $$
DECLARE s record;
BEGIN
  FOR s IN SELECT * FROM pilotscope_subplans(query) LOOP
    kind := s.kind; key := s.key; sql := s.sql; count := NULL;
    IF s.sql IS NOT NULL AND s.kind <> 'param' THEN EXECUTE s.sql INTO count; END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- LEFT: the nullable side's filters in its ON, the preserved side's in WHERE
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b LEFT JOIN w AS c ON c.u_id = b.id AND c.y = 1 WHERE b.id < 90');
-- RIGHT is a LEFT join the other way round
SELECT * FROM pg_temp.counted('SELECT * FROM w AS c RIGHT JOIN u AS b ON c.u_id = b.id');
-- a LEFT join whose nullable side is an inner join; and one joined to an inner join
SELECT * FROM pg_temp.counted('SELECT * FROM t AS a LEFT JOIN (u AS b JOIN w AS c ON c.u_id = b.id) ON b.t_id = a.id WHERE a.x = 1');
SELECT * FROM pg_temp.counted('SELECT * FROM t AS a JOIN u AS b ON b.t_id = a.id LEFT JOIN w AS c ON c.u_id = b.id');
-- a filter that must wait for the outer join (non-strict on the nullable side)
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b LEFT JOIN w AS c ON c.u_id = b.id WHERE coalesce(c.y, 0) = 0');
-- FULL: a filter on one side of it becomes a derived table of that side
SELECT * FROM pg_temp.counted('SELECT * FROM (SELECT * FROM w WHERE y = 2) AS c FULL JOIN u AS b ON c.u_id = b.id');
-- SEMI and ANTI joins are [NOT] EXISTS; IN is a semi join
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b WHERE EXISTS (SELECT 1 FROM w AS c WHERE c.u_id = b.id AND c.y = 1)');
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b WHERE NOT EXISTS (SELECT 1 FROM w AS c WHERE c.u_id = b.id)');
SELECT * FROM pg_temp.counted('SELECT * FROM t AS a, u AS b WHERE b.t_id = a.id AND b.id IN (SELECT u_id FROM w AS c WHERE c.y = 0)');
-- a LEFT join with "IS NULL" on its nullable side is an anti join: its columns are NULL above it
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b LEFT JOIN w AS c ON c.u_id = b.id WHERE c.u_id IS NULL');
-- no standalone SQL for a hashed NOT IN subplan
SELECT * FROM pg_temp.counted('SELECT * FROM u AS b WHERE b.id NOT IN (SELECT u_id FROM w WHERE u_id IS NOT NULL)');

-- parameterized sub-plans: the rel's count and the outer keys' distinct count
SET pilotscope.parameterized_subplans = on;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SELECT kind, key, pg_rows, sql FROM pilotscope_subplans('SELECT * FROM u AS b, w AS c WHERE c.u_id = b.id AND c.y = 1');
-- pushed per-row counts reach the parameterized scan
SET pilotscope.cards = 'c | b:42';
SELECT key, injected_rows FROM pilotscope_subplans('SELECT * FROM u AS b, w AS c WHERE c.u_id = b.id AND c.y = 1')
WHERE kind = 'param';
SELECT p->0->'Plan'->'Plans'->1->'Plan Rows' AS per_row
FROM pilotscope_explain('SELECT * FROM u AS b, w AS c WHERE c.u_id = b.id AND c.y = 1', ARRAY['c | b:42; b:1']) p;
-- with cards_parameterized every parameterized sub-plan must be pushed
SET pilotscope.cards_parameterized = on;
SET pilotscope.cards = 'b:5; c:6; b c:7';
EXPLAIN (COSTS OFF) SELECT * FROM u AS b, w AS c WHERE c.u_id = b.id AND c.y = 1;
SET pilotscope.cards = 'b:5; c:6; b c:7; c | b:1; b | c:1';
SELECT count(*) FROM u AS b, w AS c WHERE c.u_id = b.id AND c.y = 1;
RESET ALL;

-- malformed parameterized keys
SET pilotscope.cards = 'c |:1';
SET pilotscope.cards = '| c:1';
SET pilotscope.cards = 'c | b | a:1';
SET pilotscope.cards = 'c | c:1';
SET pilotscope.cards = 'c | b:1; c | b:2';
SET pilotscope.cards = ' c  |  b : 3; c:2';
SHOW pilotscope.cards;
RESET pilotscope.cards;
DROP TABLE w;
