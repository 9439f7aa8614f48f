-- pilotscope.pin_cards: plan the top query level in the shape of its plan
-- with those cards, costed with pilotscope.cards (what a p-error needs).
EXPLAIN (COSTS OFF) SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5;
SET pilotscope.pin_cards = 'a:1; b:1; a b:1';
-- the shape chosen with one row each: a nested loop
EXPLAIN (COSTS OFF) SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5;
-- the same shape whatever pilotscope.cards says; its rows are pilotscope.cards'
SELECT p->0->'Plan'->'Plans'->0->>'Node Type' AS join, p->0->'Plan'->'Plans'->0->'Plan Rows' AS rows
FROM pilotscope_explain('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5',
                        ARRAY['a b:100000; a:1000; b:100', '']) p;
SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5;
-- pinned to its own plan, a plan keeps its cost
RESET pilotscope.pin_cards;
CREATE TEMP TABLE costs AS
SELECT (p->0->'Plan'->>'Total Cost')::float8 AS cost
FROM pilotscope_explain('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5', ARRAY['a b:3']) p;
SET pilotscope.pin_cards = 'a b:3';
SELECT (p->0->'Plan'->>'Total Cost')::float8 = (SELECT cost FROM costs) AS same_cost
FROM pilotscope_explain('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id AND a.x < 5', ARRAY['a b:3']) p;
-- malformed values name the setting; a shape over an appendrel is refused
SET pilotscope.pin_cards = 'a:x';
CREATE TABLE parent (id int);
CREATE TABLE child () INHERITS (parent);
EXPLAIN (COSTS OFF) SELECT * FROM parent AS p, t AS a WHERE p.id = a.id;
RESET pilotscope.pin_cards;
DROP TABLE child, parent;
