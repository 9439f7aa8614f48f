/*-------------------------------------------------------------------------
 *
 * pilotscope.c
 *	  PilotScope's PostgreSQL side as a hooks-only loadable extension:
 *	  pull the planner's sub-plans (base and join rels, PG's row estimates,
 *	  a SELECT count(*) text each) and push replacement row counts for them.
 *
 * This file: module init, GUCs, parsing of pilotscope.cards, SQL functions.
 * The planner hooks are in ps_planner.c, the executor timing in ps_exec.c.
 *
 * SQL interface (see pilotscope--1.1.sql):
 *	  pilotscope_subplans(query, with_sql)  plan a SELECT without running it and
 *	                                       return every base/join rel considered
 *	  pilotscope_explain(query, cards[])   EXPLAIN (FORMAT JSON) a SELECT once
 *	                                       per pilotscope.cards value
 *	  pilotscope_last()                    same, for the last top-level statement
 *	                                       planned with pilotscope.record on
 *	  pilotscope_last_execution_time()     executor seconds of the previous
 *	                                       top-level statement
 *	  SHOW pilotscope.last_execution_time  the same as text ('' if none), read
 *	                                       without planning or executing anything
 *	  SET pilotscope.cards = 'a:10; a b:1e5; 1/c:3'   push row counts
 *	  SET pilotscope.record = off|rows|sql
 *	  SET pilotscope.enabled = on|off
 *	  SET pilotscope.hidden_indexes = '16390, 16402'   plan without those
 *	                                       indexes (ps_indexes.c)
 *	  SET pilotscope.parameterized_subplans = on   pilotscope_subplans() also
 *	                                       returns parameterized sub-plans (kind
 *	                                       "param", key "rels | outer rels")
 *	  SET pilotscope.cards_parameterized = on      every parameterized sub-plan
 *	                                       must have a pushed row count
 *	  SET pilotscope.pin_cards = 'a:1; a b:7'      plan the top level in the shape
 *	                                       of its plan with these cards (costed
 *	                                       with pilotscope.cards)
 *
 * Known limits of doing this with stock PG15 hooks only (no core patch):
 *	- A join rel whose restriction list holds a pseudoconstant qual (no Vars,
 *	  no volatile functions, e.g. "now() > '2000-01-01'" or "$1 = 1") never
 *	  reaches set_join_pathlist_hook (add_paths_to_joinrel skips the hook when
 *	  has_pseudoconstant_clauses()), so it is neither recorded nor injected.
 *	  Exception: the rel a join search returns (normally the top join, where
 *	  WHERE-clause pseudoconstants land) is caught by a join_search_hook
 *	  wrapper.  A join rel below it that only carries such a qual for some
 *	  input pairs is still reached through the other pairs.
 *	- Upper rels (grouping, DISTINCT, window, ORDER BY/LIMIT) are not covered:
 *	  an Aggregate above an injected join keeps PG's group estimate (which is
 *	  clamped by the injected input rows).
 *	- Appendrel children and partitionwise child joins (RELOPT_OTHER_*) are
 *	  neither recorded nor injected; only the parent rel is.  The Append node
 *	  shows the injected rows, its children keep PG's.
 *	- Parameterized paths use min(PG's parameterized estimate, injected rows),
 *	  the same as a core patch.  ParamPathInfos a join rel built before its
 *	  first hook call keep min(estimate, PG's joinrel rows) where a core patch
 *	  would have min(estimate, injected): only differs when injected > PG's.
 *	- Under GEQO only the join rels GEQO visits exist, so only those can be
 *	  pulled or pushed, and a join rel's PG estimate depends on the input pair
 *	  that builds it first in each tour.  Use DP (geqo_threshold above the
 *	  number of rels) for deterministic semantics.
 *	- ndistinct-based estimates (Memoize hit ratio, group counts, hash bucket
 *	  sizes) still come from statistics.
 *	- A cached generic plan ignores later changes of pilotscope.cards; use
 *	  plan_cache_mode = force_custom_plan.
 *	- Row counts below 1 become 1 (clamp_row_est), so 0 cannot be pushed.
 *	- A pushed value is capped at what the rel can hold: a base rel's tuple
 *	  count (rel->tuples: a table's size estimate, a subquery's or function's
 *	  estimated output), a join rel's the product of its base rels' counts,
 *	  which is PG's own estimate of their cross join.  Larger values sized
 *	  plans beyond any stock PG estimate (a pushed 1e15 made parallel hash
 *	  fail with "invalid DSA memory alloc request size").
 *	- A statement plans with the settings in force when its planning starts;
 *	  a function the planner runs (folding, selectivity estimation) that SETs
 *	  them only affects later statements.
 *	- Keys use unique names over ONE query level's range table (a, a_1, ...);
 *	  EXPLAIN names over the whole flattened plan, so its suffixes can differ.
 *	  Echo keys from a pull instead of constructing them.  Alias names
 *	  containing whitespace, ':' or ';' cannot be written in pilotscope.cards.
 *	- pilotscope_last() is overwritten by statements planned while a query
 *	  runs (e.g. inside PL/pgSQL functions); pilotscope_subplans() is exact.
 *	- A sub-plan's count SQL (ps_count_sql.c) is NULL when a member is no plain
 *	  table, a clause holds a SubPlan or Param, a FULL join's side other than
 *	  one table carries a filter, a PlaceHolderVar meets an outer join, or a
 *	  semi join's inner side is referenced above it.  A parameterized
 *	  sub-plan's "count" is PilotScope's: the rel's count and the number of
 *	  distinct outer keys (per-row rows ~ their ratio), no exact per-row count.
 *	- pilotscope.pin_cards pins the top query level only (scan kind and index,
 *	  join order, sides and method); plans with Append/MergeAppend (inheritance,
 *	  partitions, UNION ALL pulled up) or joins the planner does not offer
 *	  again are refused with an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "pilotscope.h"

PG_MODULE_MAGIC;

bool		ps_enabled = true;
int			ps_record_mode = PS_RECORD_OFF;
PsCards    *ps_cards = NULL;
PsCards    *ps_pin_cards = NULL;
bool		ps_cards_parameterized = false;
bool		ps_parameterized_subplans = false;
static char *ps_cards_string = NULL;
static char *ps_pin_cards_string = NULL;
static const char *checked_setting = "pilotscope.cards";	/* named by the check hook's messages */

static const struct config_enum_entry record_options[] = {
	{"off", PS_RECORD_OFF, false},
	{"rows", PS_RECORD_ROWS, false},
	{"sql", PS_RECORD_SQL, false},
	{"on", PS_RECORD_ROWS, true},
	{"false", PS_RECORD_OFF, true},
	{"true", PS_RECORD_ROWS, true},
	{NULL, 0, false}
};

void		_PG_init(void);

PG_FUNCTION_INFO_V1(pilotscope_subplans);
PG_FUNCTION_INFO_V1(pilotscope_explain);
PG_FUNCTION_INFO_V1(pilotscope_last);
PG_FUNCTION_INFO_V1(pilotscope_last_execution_time);

/* ---------------------------------------------------------------------
 * pilotscope.cards parsing
 *
 * The value is parsed once, in the check hook, into a PsCards "extra" so the
 * planner never touches the string.  Check hooks must not throw: problems are
 * reported with GUC_check_errmsg/GUC_check_errdetail and "return false".
 * ---------------------------------------------------------------------
 */

/* a parsed entry while checking; turned into the flat PsCards at the end */
typedef struct CardTmp
{
	int			pos;			/* 1-based position among ';' pieces */
	char	   *text;			/* the trimmed entry, for messages */
	int			block;
	int			naliases;
	char	  **aliases;
	int			nouter;			/* aliases after a "|" token: a parameterized sub-plan's outer rels */
	char	  **outer;
	char	   *normkey;		/* "N/a b c" or "N/a b | c", for duplicate detection */
	double		rows;
} CardTmp;

static char *
trim_ws(char *s)
{
	char	   *end;

	while (*s && isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		end--;
	*end = '\0';
	return s;
}

static int
cmp_cstring_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
cmp_cardtmp(const void *a, const void *b)
{
	const CardTmp *x = (const CardTmp *) a;
	const CardTmp *y = (const CardTmp *) b;
	int			c = strcmp(x->normkey, y->normkey);

	return c != 0 ? c : x->pos - y->pos;
}

/* Sort n aliases; false (with the GUC detail set) when one appears twice */
static bool
sorted_distinct(char **aliases, int n, int pos, const char *text)
{
	int			i;

	qsort(aliases, n, sizeof(char *), cmp_cstring_ptr);
	for (i = 1; i < n; i++)
	{
		if (strcmp(aliases[i - 1], aliases[i]) == 0)
		{
			GUC_check_errdetail("entry %d \"%s\": alias \"%s\" appears twice in the key",
								pos, text, aliases[i]);
			return false;
		}
	}
	return true;
}

static bool
bad_entry(const char *entry)
{
	GUC_check_errmsg("invalid value for parameter \"%s\": \"%s\"",
					 checked_setting, entry);
	return false;
}

/* Parse one trimmed, non-empty entry; false (with the GUC message set) when malformed */
static bool
parse_card_entry(char *entry, int pos, CardTmp *out)
{
	char	   *colon = strrchr(entry, ':');
	char	   *keypart;
	char	   *rowspart;
	char	   *endp;
	char	   *tok;
	char	   *saveptr = NULL;
	double		rows;
	int			block = 0;
	int			nalloc = 4;
	StringInfoData key;
	int			i;

	out->pos = pos;
	out->text = pstrdup(entry);
	if (colon == NULL)
	{
		GUC_check_errdetail("entry %d \"%s\" has no \":rows\" part", pos, out->text);
		return bad_entry(out->text);
	}
	*colon = '\0';
	keypart = trim_ws(entry);
	rowspart = trim_ws(colon + 1);
	if (*rowspart == '\0')
	{
		GUC_check_errdetail("entry %d \"%s\" has an empty \":rows\" part", pos, out->text);
		return bad_entry(out->text);
	}
	errno = 0;
	rows = strtod(rowspart, &endp);
	if (endp == rowspart || *endp != '\0')
	{
		GUC_check_errdetail("entry %d \"%s\": rows \"%s\" is not a number",
							pos, out->text, rowspart);
		return bad_entry(out->text);
	}
	if (isnan(rows) || isinf(rows))
	{
		GUC_check_errdetail("entry %d \"%s\": rows \"%s\" is not a finite number",
							pos, out->text, rowspart);
		return bad_entry(out->text);
	}
	if (rows < 0)
	{
		GUC_check_errdetail("entry %d \"%s\": rows %s is negative",
							pos, out->text, rowspart);
		return bad_entry(out->text);
	}

	/* optional "N/" block prefix: digits then a slash */
	if (isdigit((unsigned char) *keypart))
	{
		char	   *p = keypart;

		while (isdigit((unsigned char) *p))
			p++;
		if (*p == '/')
		{
			long		b;

			errno = 0;
			b = strtol(keypart, NULL, 10);
			if (errno != 0 || b > 1000000)
			{
				GUC_check_errdetail("entry %d \"%s\": block number is out of range",
									pos, out->text);
				return bad_entry(out->text);
			}
			block = (int) b;
			keypart = p + 1;
		}
	}

	out->block = block;
	out->naliases = out->nouter = 0;
	out->outer = NULL;
	out->aliases = palloc(sizeof(char *) * nalloc);
	for (tok = strtok_r(keypart, " \t\r\n\f\v", &saveptr); tok != NULL;
		 tok = strtok_r(NULL, " \t\r\n\f\v", &saveptr))
	{
		if (strcmp(tok, "|") == 0)
		{
			if (out->outer != NULL)
			{
				GUC_check_errdetail("entry %d \"%s\" has more than one \"|\"", pos, out->text);
				return bad_entry(out->text);
			}
			out->outer = out->aliases + out->naliases;
			continue;
		}
		if (out->naliases + out->nouter == nalloc)
		{
			int			split = out->outer ? (int) (out->outer - out->aliases) : -1;

			nalloc *= 2;
			out->aliases = repalloc(out->aliases, sizeof(char *) * nalloc);
			if (split >= 0)
				out->outer = out->aliases + split;
		}
		if (out->outer != NULL)
			out->outer[out->nouter++] = tok;
		else
			out->aliases[out->naliases++] = tok;
	}
	if (out->naliases == 0 || (out->outer != NULL && out->nouter == 0))
	{
		GUC_check_errdetail("entry %d \"%s\" has an empty %s", pos, out->text,
							out->naliases == 0 ? "key" : "list of outer aliases after \"|\"");
		return bad_entry(out->text);
	}
	if (!sorted_distinct(out->aliases, out->naliases, pos, out->text) ||
		!sorted_distinct(out->outer, out->nouter, pos, out->text))
		return bad_entry(out->text);
	for (i = 0; i < out->nouter; i++)
	{
		if (bsearch(&out->outer[i], out->aliases, out->naliases, sizeof(char *), cmp_cstring_ptr))
		{
			GUC_check_errdetail("entry %d \"%s\": alias \"%s\" is on both sides of \"|\"",
								pos, out->text, out->outer[i]);
			return bad_entry(out->text);
		}
	}

	initStringInfo(&key);
	if (block > 0)
		appendStringInfo(&key, "%d/", block);
	for (i = 0; i < out->naliases; i++)
	{
		if (i > 0)
			appendStringInfoChar(&key, ' ');
		appendStringInfoString(&key, out->aliases[i]);
	}
	if (out->nouter > 0)
		appendStringInfoString(&key, " |");
	for (i = 0; i < out->nouter; i++)
		appendStringInfo(&key, " %s", out->outer[i]);
	out->normkey = key.data;
	out->rows = rows;
	return true;
}

void *
ps_guc_malloc(size_t size)
{
#if PG_VERSION_NUM >= 160000
	/* since PG16 GUC "extra" is freed with guc_free() */
	return guc_malloc(LOG, size);
#else
	return malloc(size);
#endif
}

static bool check_cards_value(char **newval, void **extra);

static bool
check_cards(char **newval, void **extra, GucSource source)
{
	checked_setting = "pilotscope.cards";
	return check_cards_value(newval, extra);
}

static bool
check_pin_cards(char **newval, void **extra, GucSource source)
{
	checked_setting = "pilotscope.pin_cards";
	return check_cards_value(newval, extra);
}

static void
assign_pin_cards(const char *newval, void *extra)
{
	ps_pin_cards = (PsCards *) extra;
}

/* Parse a pilotscope.cards-style value into one malloc'd PsCards (NULL when it has no entry) */
static bool
check_cards_value(char **newval, void **extra)
{
	char	   *copy;
	char	   *piece;
	char	   *next;
	int			pos = 0;
	int			n = 0;
	int			nalloc = 16;
	CardTmp    *tmp;
	Size		size;
	Size		nalias_total = 0;
	Size		strbytes = 0;
	PsCards    *cards;
	const char **aliasp;
	char	   *strp;
	int			i;
	int			j;

	*extra = NULL;
	if (*newval == NULL)
		return true;

	copy = pstrdup(*newval);
	tmp = palloc(sizeof(CardTmp) * nalloc);
	for (piece = copy; piece != NULL; piece = next)
	{
		char	   *entry;

		next = strchr(piece, ';');
		if (next)
			*next++ = '\0';
		pos++;
		entry = trim_ws(piece);
		if (*entry == '\0')
			continue;			/* empty entries are allowed */
		if (n == nalloc)
		{
			nalloc *= 2;
			tmp = repalloc(tmp, sizeof(CardTmp) * nalloc);
		}
		if (!parse_card_entry(entry, pos, &tmp[n]))
			return false;
		n++;
	}
	if (n == 0)
		return true;			/* no entries: extra stays NULL */

	/* duplicates: sort by normalised key, compare neighbours */
	qsort(tmp, n, sizeof(CardTmp), cmp_cardtmp);
	for (i = 1; i < n; i++)
	{
		if (strcmp(tmp[i - 1].normkey, tmp[i].normkey) == 0)
		{
			GUC_check_errdetail("entry %d \"%s\" repeats key \"%s\" of entry %d \"%s\"",
								tmp[i].pos, tmp[i].text, tmp[i].normkey,
								tmp[i - 1].pos, tmp[i - 1].text);
			return bad_entry(tmp[i].text);
		}
	}

	/* flatten into one malloc'd chunk (GUC frees "extra" with a single free) */
	for (i = 0; i < n; i++)
	{
		/* the outer aliases follow the aliases in tmp[i].aliases */
		nalias_total += tmp[i].naliases + tmp[i].nouter;
		for (j = 0; j < tmp[i].naliases + tmp[i].nouter; j++)
			strbytes += strlen(tmp[i].aliases[j]) + 1;
	}
	size = offsetof(PsCards, entries) + sizeof(PsCardEntry) * n +
		sizeof(const char *) * nalias_total + strbytes;
	cards = (PsCards *) ps_guc_malloc(size);
	if (cards == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	cards->size = size;
	cards->nentries = n;
	aliasp = (const char **) ((char *) cards + offsetof(PsCards, entries) +
							  sizeof(PsCardEntry) * n);
	strp = (char *) (aliasp + nalias_total);
	for (i = 0; i < n; i++)
	{
		PsCardEntry *e = &cards->entries[i];

		e->block = tmp[i].block;
		e->naliases = tmp[i].naliases;
		e->nouter = tmp[i].nouter;
		e->rows = tmp[i].rows;
		e->aliases = aliasp;
		e->outer = aliasp + e->naliases;
		for (j = 0; j < tmp[i].naliases + tmp[i].nouter; j++)
		{
			size_t		len = strlen(tmp[i].aliases[j]) + 1;

			memcpy(strp, tmp[i].aliases[j], len);
			*aliasp++ = strp;
			strp += len;
		}
	}
	*extra = cards;
	return true;
}

static void
assign_cards(const char *newval, void *extra)
{
	ps_cards = (PsCards *) extra;
}

/*
 * A copy of a parsed setting in cxt.  The planner plans a statement with a
 * copy: the GUC frees its "extra" as soon as a function run during planning
 * changes the setting.
 */
PsCards *
ps_copy_cards(const PsCards *cards, MemoryContext cxt)
{
	PsCards    *copy;
	ptrdiff_t	shift;
	int			i;
	int			j;

	if (cards == NULL)
		return NULL;
	copy = MemoryContextAlloc(cxt, cards->size);
	memcpy(copy, cards, cards->size);
	/* the chunk points into itself: move those pointers along */
	shift = (char *) copy - (char *) cards;
	for (i = 0; i < copy->nentries; i++)
	{
		PsCardEntry *e = &copy->entries[i];

		e->aliases = (const char **) ((char *) e->aliases + shift);
		e->outer = (const char **) ((char *) e->outer + shift);
		for (j = 0; j < e->naliases + e->nouter; j++)
			e->aliases[j] += shift;
	}
	return copy;
}

/* pilotscope.last_execution_time: the GUC's own string is never set */
static char *ps_last_execution_time_string = NULL;

static const char *
show_last_execution_time(void)
{
	static char buf[32];
	double		secs;

	if (!ps_last_exec_time(&secs))
		return "";
	snprintf(buf, sizeof(buf), "%.12g", secs);
	return buf;
}

/* ---------------------------------------------------------------------
 * module init
 * ---------------------------------------------------------------------
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("pilotscope.enabled",
							 "Master switch of the pilotscope planner and executor hooks.",
							 "When off, every hook passes straight through.",
							 &ps_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pilotscope.cards",
							   "Row counts the planner uses for sub-plans: \"key:rows; key:rows\".",
							   "A key is the sorted, space-separated unique alias list of a base or "
							   "join relation, optionally prefixed by \"N/\" for query level N; "
							   "\"rels | outer rels\" is a parameterized sub-plan (rows per outer row).",
							   &ps_cards_string,
							   "",
							   PGC_USERSET,
							   0,
							   check_cards, assign_cards, NULL);

	DefineCustomStringVariable("pilotscope.pin_cards",
							   "Plan statements in the shape of their plan with these row counts.",
							   "Same syntax as pilotscope.cards.  The top query level keeps the scans "
							   "and joins chosen with these counts, costed with pilotscope.cards.",
							   &ps_pin_cards_string,
							   "",
							   PGC_USERSET,
							   0,
							   check_pin_cards, assign_pin_cards, NULL);

	DefineCustomBoolVariable("pilotscope.cards_parameterized",
							 "Require a pilotscope.cards row count for every parameterized sub-plan.",
							 "A parameterized sub-plan (key \"rels | outer rels\") without one is an error.",
							 &ps_cards_parameterized,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pilotscope.parameterized_subplans",
							 "pilotscope_subplans() also returns the parameterized sub-plans.",
							 "Kind \"param\", key \"rels | outer rels\": the rels scanned or joined "
							 "once per row of the outer rels, with the rows PG estimates per such row.",
							 &ps_parameterized_subplans,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("pilotscope.record",
							 "Record the sub-plans of every top-level planned statement for pilotscope_last().",
							 "rows: keys and estimates; sql: also the SELECT count(*) text.",
							 &ps_record_mode,
							 PS_RECORD_OFF,
							 record_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Read-only; its value comes from the show hook.  SHOW is a utility
	 * statement, so reading it neither plans nor executes (and so never
	 * replaces the time it reports): the harness appends it to the
	 * statement's own message at a fraction of a SELECT's cost.
	 */
	DefineCustomStringVariable("pilotscope.last_execution_time",
							   "Executor seconds of the previous top-level statement ('' if none).",
							   "The same as pilotscope_last_execution_time(), for SHOW.",
							   &ps_last_execution_time_string,
							   "",
							   PGC_INTERNAL,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, show_last_execution_time);

	MarkGUCPrefixReserved("pilotscope");

	ps_planner_init();
	ps_exec_init();
	ps_indexes_init();
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */
static void
emit_subplans(FunctionCallInfo fcinfo, PsSubplan *subs, int n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		values[8];
		bool		nulls[8];
		PsSubplan  *s = &subs[i];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(s->block);
		values[1] = CStringGetTextDatum(s->kind == PS_SUBPLAN_JOIN ? "join" :
										s->kind == PS_SUBPLAN_PARAM ? "param" : "base");
		values[2] = Int32GetDatum(s->nrels);
		values[3] = CStringGetTextDatum(s->key);
		values[4] = Float8GetDatum(s->pg_rows);
		if (s->has_injected)
			values[5] = Float8GetDatum(s->injected_rows);
		else
			nulls[5] = true;
		values[6] = BoolGetDatum(s->inner_only);
		if (s->sql)
			values[7] = CStringGetTextDatum(s->sql);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* the planned text of pilotscope_subplans() / pilotscope_explain(), for error messages */
typedef struct PlannedText
{
	const char *function;
	const char *query;
	int			element;		/* 1-based element of pilotscope_explain's cards, or 0 */
} PlannedText;

/* Point errors in the planned text at that text, not at the calling statement */
static void
planned_text_error_callback(void *arg)
{
	PlannedText *planned = (PlannedText *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(planned->query);
	}
	else if (planned->element > 0)
		errcontext("query planned by %s() with cards element %d: %s",
				   planned->function, planned->element, planned->query);
	else
		errcontext("query planned by %s(): %s", planned->function, planned->query);
}

static void
require_enabled(const char *function)
{
	if (!ps_enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() needs pilotscope.enabled = on", function),
				 errhint("SET pilotscope.enabled = on")));
}

/*
 * Parse, analyze and rewrite the query text a function plans: exactly ONE
 * SELECT, so that nothing after a ';' can run and nothing but a query is
 * planned.
 */
static Query *
analyze_one_select(const char *function, const char *query)
{
	List	   *raw = pg_parse_query(query);
	RawStmt    *rs;
	List	   *qlist;
	Query	   *q;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s() takes exactly one SELECT statement, got %d statements",
						function, list_length(raw)),
				 errhint("Pass one SELECT, without a second statement after a ';'.")));
	rs = linitial_node(RawStmt, raw);
	if (IsA(rs->stmt, SelectStmt) && ((SelectStmt *) rs->stmt)->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() does not plan SELECT INTO", function),
				 errhint("Leave out the INTO clause.")));
	if (!IsA(rs->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() only plans SELECT statements, got %s",
						function, GetCommandTagName(CreateCommandTag(rs->stmt)))));

	qlist = pg_analyze_and_rewrite_fixedparams(rs, query, NULL, 0, NULL);
	if (list_length(qlist) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s(): the statement was rewritten into %d statements",
						function, list_length(qlist))));
	q = linitial_node(Query, qlist);
	if (q->commandType != CMD_SELECT || q->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() only plans SELECT statements", function)));
	return q;
}

/*
 * pilotscope_subplans(query text, with_sql boolean DEFAULT true)
 *
 * Plan ONE SELECT without executing it; the planner hooks record every base
 * and join rel while it plans.  The caller must be allowed to read what the
 * plan reads, as for EXPLAIN (whose executor start checks the range table).
 */
Datum
pilotscope_subplans(PG_FUNCTION_ARGS)
{
	PlannedText planned = {"pilotscope_subplans", text_to_cstring(PG_GETARG_TEXT_PP(0))};
	PsPlanRequest request = {.capture = true, .with_sql = PG_GETARG_BOOL(1),
	.with_param = ps_parameterized_subplans};
	ErrorContextCallback errcb;
	PlannedStmt *pstmt;

	require_enabled(planned.function);
	errcb.callback = planned_text_error_callback;
	errcb.arg = &planned;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	pstmt = ps_plan(analyze_one_select(planned.function, planned.query), planned.query, &request);
#if PG_VERSION_NUM >= 160000
	(void) ExecCheckPermissions(pstmt->rtable, pstmt->permInfos, true);
#else
	(void) ExecCheckRTPerms(pstmt->rtable, true);
#endif

	error_context_stack = errcb.previous;
	emit_subplans(fcinfo, request.subs, request.nsubs);
	return (Datum) 0;
}

/* EXPLAIN (FORMAT JSON) output of a plan, as EXPLAIN prints it (no execution) */
static char *
explain_json(PlannedStmt *pstmt, const char *query)
{
	ExplainState *es = NewExplainState();

	es->format = EXPLAIN_FORMAT_JSON;
	ExplainBeginOutput(es);
	ExplainOnePlan(pstmt, NULL, es, query, NULL, NULL, NULL, NULL);
	ExplainEndOutput(es);
	return es->str->data;
}

/*
 * pilotscope_explain(query text, cards text[]) RETURNS SETOF json
 *
 * EXPLAIN (FORMAT JSON) ONE SELECT once per pilotscope.cards value, in one
 * round trip (Lero's candidate plans): parsed and analyzed once, planned once
 * per value.  Each value is SET for its planning only, as a function's SET
 * clause would (restored afterwards, and by the abort on an error).  Each
 * plan is made in a context reset after its JSON is stored.
 */
Datum
pilotscope_explain(PG_FUNCTION_ARGS)
{
	PlannedText planned = {"pilotscope_explain", text_to_cstring(PG_GETARG_TEXT_PP(0))};
	ArrayType  *cards = PG_GETARG_ARRAYTYPE_P(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ErrorContextCallback errcb;
	MemoryContext plan_cxt;
	Query	   *query;
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int			i;

	require_enabled(planned.function);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	deconstruct_array(cards, TEXTOID, -1, false, TYPALIGN_INT, &values, &nulls, &n);

	errcb.callback = planned_text_error_callback;
	errcb.arg = &planned;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	query = analyze_one_select(planned.function, planned.query);
	plan_cxt = AllocSetContextCreate(CurrentMemoryContext, "pilotscope_explain plan",
									 ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < n; i++)
	{
		PsPlanRequest request = {0};
		int			nest_level = NewGUCNestLevel();
		MemoryContext oldcxt = MemoryContextSwitchTo(plan_cxt);
		PlannedStmt *pstmt;
		Datum		plan;
		bool		isnull = false;

		planned.element = i + 1;
		(void) set_config_option("pilotscope.cards",
								 nulls[i] ? "" : TextDatumGetCString(values[i]),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		/* the planner scribbles on its input */
		pstmt = ps_plan(copyObject(query), planned.query, &request);
		plan = CStringGetTextDatum(explain_json(pstmt, planned.query));
		AtEOXact_GUC(true, nest_level);
		MemoryContextSwitchTo(oldcxt);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &plan, &isnull);
		MemoryContextReset(plan_cxt);
	}
	MemoryContextDelete(plan_cxt);

	error_context_stack = errcb.previous;
	return (Datum) 0;
}

/* pilotscope_last(): sub-plans of the last top-level statement planned while recording */
Datum
pilotscope_last(PG_FUNCTION_ARGS)
{
	PsSubplan  *subs;
	int			n = ps_last_result(&subs);

	emit_subplans(fcinfo, subs, n);
	return (Datum) 0;
}

/* pilotscope_last_execution_time(): executor seconds of the previous top-level statement */
Datum
pilotscope_last_execution_time(PG_FUNCTION_ARGS)
{
	double		secs;

	if (!ps_last_exec_time(&secs))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(secs);
}
