-- pilotscope.hidden_indexes: the planner plans as if the listed indexes (by
-- OID) did not exist, in this session only; malformed values are rejected.
CREATE TABLE h (id int PRIMARY KEY, k int, v int);
INSERT INTO h SELECT i, i % 1000, i FROM generate_series(1, 20000) i;
CREATE INDEX h_k ON h (k);
CREATE INDEX h_v ON h (v);
ANALYZE h;
SET enable_bitmapscan = off;

-- visible: both indexes are used
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE k = 7;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE v = 7;

-- hidden: planned without h_k only; SET LOCAL ends with its transaction
SELECT set_config('pilotscope.hidden_indexes', 'h_k'::regclass::oid::text, false) IS NOT NULL AS hidden;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE k = 7;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE v = 7;
RESET pilotscope.hidden_indexes;
BEGIN;
SELECT set_config('pilotscope.hidden_indexes', 'h_k'::regclass::oid || ', ' || 'h_v'::regclass::oid, true) IS NOT NULL AS hidden;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE k = 7 OR v = 7;
ROLLBACK;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE k = 7;

-- a hidden primary key proves nothing unique: the left join is no longer removed
EXPLAIN (COSTS OFF) SELECT a.k FROM h a LEFT JOIN h b ON b.id = a.k;
SELECT set_config('pilotscope.hidden_indexes', 'h_pkey'::regclass::oid::text, false) IS NOT NULL AS hidden;
EXPLAIN (COSTS OFF) SELECT a.k FROM h a LEFT JOIN h b ON b.id = a.k;

-- with the hooks off nothing is hidden
SET pilotscope.enabled = off;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE id = 7;
RESET pilotscope.enabled;
EXPLAIN (COSTS OFF) SELECT * FROM h WHERE id = 7;
RESET pilotscope.hidden_indexes;

-- separators, duplicates and OIDs of no index are accepted
SET pilotscope.hidden_indexes = ' 1,2 3,,3 ';
SHOW pilotscope.hidden_indexes;
SET pilotscope.hidden_indexes = '';
-- malformed values are rejected naming the entry; the setting keeps its last valid value
SET pilotscope.hidden_indexes = 'h_k';
SET pilotscope.hidden_indexes = '12, -3';
SET pilotscope.hidden_indexes = '0';
SET pilotscope.hidden_indexes = '4294967296';
SET pilotscope.hidden_indexes = '12;DROP TABLE h';
SHOW pilotscope.hidden_indexes;
RESET enable_bitmapscan;
DROP TABLE h;
