-- Functions the planner runs while it plans (constant folding, selectivity
-- estimation) may change pilotscope.cards / .record / .enabled, or plan other
-- statements through pilotscope_subplans() / pilotscope_explain().  The
-- statement being planned keeps what it started with, and any role can try:
-- these ran as an unprivileged role and crashed the server (SIGSEGV).
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_pilotscope_user;
RESET client_min_messages;
CREATE ROLE regress_pilotscope_user;
GRANT SELECT ON t, u TO regress_pilotscope_user;
SET ROLE regress_pilotscope_user;

CREATE FUNCTION pg_temp.clear_cards() RETURNS int STABLE LANGUAGE sql
  AS $$ SELECT 1 FROM (SELECT set_config('pilotscope.cards', '', false)) s $$;
SET pilotscope.cards = 'a:5';
SELECT count(*) FROM t AS a WHERE a.id = pg_temp.clear_cards();
SHOW pilotscope.cards;

-- the same through pilotscope_subplans(): the statement keeps a:5
SET pilotscope.cards = 'a:5';
SELECT key, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM t AS a WHERE a.id = pg_temp.clear_cards()', false);
SHOW pilotscope.cards;

-- and through pilotscope_explain(), no SET needed
SELECT p->0->'Plan'->'Plans'->0->'Plan Rows' AS rows
FROM pilotscope_explain('SELECT count(*) FROM t AS a WHERE a.id > pg_temp.clear_cards()',
                        ARRAY['a:1', 'a:2']) p;

-- setting other cards mid-planning (the old value is freed) changes nothing either
CREATE FUNCTION pg_temp.replace_cards() RETURNS int STABLE LANGUAGE sql
  AS $$ SELECT 1 FROM (SELECT set_config('pilotscope.cards', 'a:6; a b:66', false)) s $$;
SET pilotscope.cards = 'a:5; a b:55; b:9';
SELECT key, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM t AS a, u AS b WHERE b.t_id = a.id AND a.id > pg_temp.replace_cards() '
                         'AND b.id IN (SELECT id FROM u AS c WHERE c.id > pg_temp.clear_cards())', false);
SHOW pilotscope.cards;

-- pilotscope.record and pilotscope.enabled changed mid-planning
CREATE FUNCTION pg_temp.flip_settings() RETURNS int STABLE LANGUAGE sql
  AS $$ SELECT 1 FROM (SELECT set_config('pilotscope.record', 'off', false),
                              set_config('pilotscope.enabled', 'off', false),
                              set_config('pilotscope.cards', '', false)) s $$;
SET pilotscope.record = 'sql';
SET pilotscope.cards = 'a:5';
EXPLAIN (COSTS OFF) SELECT count(*) FROM t AS a WHERE a.id = pg_temp.flip_settings();
SHOW pilotscope.enabled;
SELECT key, injected_rows, sql FROM pilotscope_last();
SET pilotscope.enabled = on;
SET pilotscope.record = 'rows';
CREATE FUNCTION pg_temp.record_sql() RETURNS int STABLE LANGUAGE sql
  AS $$ SELECT 1 FROM (SELECT set_config('pilotscope.record', 'sql', false)) s $$;
EXPLAIN (COSTS OFF) SELECT count(*) FROM t AS a, u AS b WHERE b.t_id = a.id AND a.id > pg_temp.record_sql();
SELECT key, sql FROM pilotscope_last();
RESET pilotscope.record;

-- nested pilotscope_subplans() / pilotscope_explain() calls during planning
-- plan their own statement with the cards set then, and the outer statement
-- carries on with its own
CREATE FUNCTION pg_temp.nested() RETURNS int STABLE LANGUAGE plpgsql AS $$
DECLARE
  pulled text;
  explained text;
BEGIN
  SELECT string_agg(key || '=' || coalesce(injected_rows::text, '-'), ', ' ORDER BY key) INTO pulled
  FROM pilotscope_subplans('SELECT count(*) FROM u AS b, t AS a WHERE b.t_id = a.id', false);
  SELECT string_agg(p->0->'Plan'->>'Plan Rows', ', ') INTO explained
  FROM pilotscope_explain('SELECT * FROM u AS b', ARRAY['b:3', 'b:4']) p;
  RAISE NOTICE 'nested: % | % | cards %', pulled, explained, current_setting('pilotscope.cards');
  PERFORM set_config('pilotscope.cards', 'b:2', false);
  RETURN 1;
END $$;
SET pilotscope.cards = 'a:5; a b:55';
SELECT key, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM t AS a, u AS b WHERE b.t_id = a.id AND a.id > pg_temp.nested()', false);
SELECT p->0->'Plan'->'Plans'->0->'Plan Rows' AS rows
FROM pilotscope_explain('SELECT count(*) FROM t AS a WHERE a.id > pg_temp.nested()', ARRAY['a:8']) p;

-- an error thrown mid-planning, after changing the settings and nesting:
-- the settings roll back and the next statements plan as before
CREATE FUNCTION pg_temp.fail() RETURNS int STABLE LANGUAGE plpgsql AS $$
BEGIN
  PERFORM count(*) FROM pilotscope_subplans('SELECT * FROM u AS b', false);
  PERFORM set_config('pilotscope.cards', 'a:1', false);
  PERFORM set_config('pilotscope.enabled', 'off', false);
  RAISE EXCEPTION 'failing mid-planning';
END $$;
SET pilotscope.cards = 'a:5';
\set VERBOSITY terse
SELECT key FROM pilotscope_subplans('SELECT count(*) FROM t AS a WHERE a.id = pg_temp.fail()');
SELECT * FROM pilotscope_explain('SELECT count(*) FROM t AS a WHERE a.id = pg_temp.fail()', ARRAY['a:7']);
SELECT count(*) FROM t AS a WHERE a.id = pg_temp.fail();
\set VERBOSITY default
SHOW pilotscope.cards;
SHOW pilotscope.enabled;
SELECT key, injected_rows FROM pilotscope_subplans('SELECT count(*) FROM t AS a', false);

-- the same under GEQO, whose join rels live in per-tour memory
SET geqo_threshold = 2;
SET pilotscope.cards = 'a:5; a b:55';
SELECT key, injected_rows
FROM pilotscope_subplans('SELECT count(*) FROM t AS a, u AS b WHERE b.t_id = a.id AND a.id > pg_temp.replace_cards()', false);
RESET geqo_threshold;
RESET pilotscope.cards;

RESET ROLE;
DROP OWNED BY regress_pilotscope_user;
DROP ROLE regress_pilotscope_user;
