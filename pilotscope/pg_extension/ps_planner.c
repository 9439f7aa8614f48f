/*-------------------------------------------------------------------------
 *
 * ps_planner.c
 *	  Planner hooks: push row counts into base and join rels (pilotscope.cards)
 *	  and record every base/join rel the planner builds (pilotscope_subplans,
 *	  pilotscope.record + pilotscope_last).
 *
 * Stock PG15 has no size-estimation hook, so the row counts are overridden
 * right after the paths of a rel are built, with the same result as a core
 * patch at the end of set_baserel_size_estimates/set_joinrel_size_estimates:
 *
 *	planner_hook          nesting depth; only the outermost planner call of a
 *	                      statement acts (planning done inside planning, e.g.
 *	                      constant-folding a SQL function, passes through),
 *	                      except the call ps_plan() makes for
 *	                      pilotscope_subplans/_explain, which plans a statement
 *	                      of its own and then restores the one it interrupted.
 *	                      The settings are read and pilotscope.cards copied
 *	                      when a statement starts.  Per-statement state lives
 *	                      in st.cxt, which also survives GEQO's per-tour
 *	                      memory contexts and is deleted when planning ends.
 *	set_rel_pathlist_hook on the FIRST call for a PlannerInfo every base rel
 *	                      size of that level is final (set_base_rel_sizes ran
 *	                      before set_base_rel_pathlists), so all base rels of
 *	                      the level are recorded and injected at once; later
 *	                      rels then build paths, ParamPathInfos and index loop
 *	                      counts (get_loop_count reads other rels' rows) from
 *	                      the injected numbers.  The first rel's own paths were
 *	                      built too early and are rebuilt (copy of the static
 *	                      set_plain_rel_pathlist).  Rels whose paths exist
 *	                      already (subqueries, appendrel parents) get their path
 *	                      rows fixed.
 *	set_join_pathlist_hook "patch" mode: called at the end of every
 *	                      add_paths_to_joinrel; the first time a join rel's rows
 *	                      differ from the target, set joinrel->rows and fix the
 *	                      rows of its paths and ParamPathInfos.  Join cost
 *	                      functions read the INPUT paths' rows, not the join
 *	                      rel's own, so later pairs and all parent joins are
 *	                      costed exactly as with a core patch.
 *
 * Keys: sorted unique alias names (ruleutils' select_rtable_names_for_explain
 * over the level's range table), "N/" prefix for the N-th separately planned
 * level (0 = top level).  pilotscope.cards is translated ONCE per level into
 * an array (base rels) and a Relids hash (join rels); building alias strings
 * per add_paths_to_joinrel call is what would cost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "optimizer/cost.h"
#include "optimizer/geqo.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"

#include "pilotscope.h"

static planner_hook_type prev_planner_hook = NULL;
static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;
static set_join_pathlist_hook_type prev_set_join_pathlist_hook = NULL;
static join_search_hook_type prev_join_search_hook = NULL;

/* alias name -> range table index, sorted by name for bsearch */
typedef struct PsNameIdx
{
	const char *name;
	int			rti;
} PsNameIdx;

/* pushed row count of one join rel (hash entry; key = Relids pointer) */
typedef struct PsJoinTarget
{
	Relids		relids;
	double		rows;			/* clamp_row_est'ed */
} PsJoinTarget;

/*
 * set_join_pathlist_hook runs once per (outer, inner) pair, many times per
 * join rel, so the per-call work must be tiny.  Join rels whose relids fit
 * in one bitmapword (range table index < 64, i.e. every realistic query)
 * are looked up in a simplehash keyed by that word: the first visit does the
 * dynahash lookup of the pushed value and the recording, later visits only
 * read the cached target.  Keyed by content, not by RelOptInfo pointer, so
 * GEQO's rebuilt join rels hit as well.
 */
typedef struct PsWordEntry
{
	bitmapword	key;
	char		status;
	double		target;
} PsWordEntry;

static inline uint32
word_hash(bitmapword w)
{
	uint64		h = (uint64) w;

	/* splitmix64 finaliser */
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return (uint32) h;
}

#define SH_PREFIX psw
#define SH_ELEMENT_TYPE PsWordEntry
#define SH_KEY_TYPE bitmapword
#define SH_KEY key
#define SH_HASH_KEY(tb, k) word_hash(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* state of one query level (one PlannerInfo) */
typedef struct PsLevel
{
	PsSqlLevel	sql;			/* root, unique names per RTE, count SQL caches */
	int			block;
	int			nslots;			/* simple_rel_array_size at init */
	PsNameIdx  *sorted;
	int			nsorted;
	double	   *base_target;	/* [rti]: injected rows, < 0 when none */
	bool		any_base_target;
	HTAB	   *join_target;	/* NULL when no join key of this level */
	List	   *param_target;	/* PsParamTarget *: pushed rows of parameterized sub-plans */
	struct psw_hash *seen;		/* join rels visited: relids word -> target */
} PsLevel;

/* pushed rows of a parameterized sub-plan of a level */
typedef struct PsParamTarget
{
	Relids		relids;
	Relids		outer;			/* ppi_req_outer */
	double		rows;			/* clamp_row_est'ed */
} PsParamTarget;

/* recorded sub-plans, de-duplicated by (block, relids, outer) */
typedef struct PsRecKey
{
	int			block;
	Relids		relids;
	Relids		outer;			/* NULL, or the rels a parameterized sub-plan is per row of */
} PsRecKey;

typedef struct PsRecEntry
{
	PsRecKey	key;
	PsLevel    *owner;
	PsSubplan	sp;
} PsRecEntry;

typedef struct PsBlock
{
	PlannerInfo *root;
	int			block;
} PsBlock;

/*
 * State of the statement being planned.  Everything it plans with is fixed
 * when its planning starts (settings read once, pilotscope.cards copied into
 * cxt), so a function the planner runs meanwhile cannot change it by SET.
 */
typedef struct PsStmt
{
	bool		active;			/* hooks act for this statement */
	MemoryContext cxt;			/* everything of the statement; NULL when inactive */
	PsCards    *cards;			/* NULL: nothing pushed */
	int			record;			/* PsRecordMode */
	bool		record_param;	/* record parameterized sub-plans too */
	bool		cards_parameterized;	/* every parameterized sub-plan must be pushed */
	PsPlanRequest *request;		/* planned by ps_plan(), else NULL */
	PsPin	   *pin;			/* plan the top level in this shape (pilotscope.pin_cards), or NULL */
	bool		touched_table;	/* some level scans a plain relation */
	int			next_block;
	List	   *blocks;			/* PsBlock: PlannerInfo -> block number */
	List	   *levels;
	PsLevel    *last_level;
	HTAB	   *records;
} PsStmt;

static PsStmt st;
static int	planner_depth = 0;		/* of planner calls within the statement */
static PsPlanRequest *pending_request = NULL;	/* for the next planner call */
static PsCards *pending_cards = NULL;	/* the next statement's cards instead of pilotscope.cards */
static bool capturing_pin = false;	/* planning a statement for its shape (pilotscope.pin_cards) */
static MemoryContext last_cxt = NULL;	/* pilotscope_last() result */

static PsSubplan *last_subs = NULL; /* in last_cxt */
static int	last_n = 0;

/* ---------------------------------------------------------------------
 * small helpers
 * ---------------------------------------------------------------------
 */

/* Relids of the base rels only (PG16+ join relids also hold outer joins) */
static inline Relids
base_relids(PlannerInfo *root, Relids relids)
{
#if PG_VERSION_NUM >= 160000
	if (bms_overlap(relids, root->outer_join_rels))
		return bms_difference(relids, root->outer_join_rels);
#endif
	return relids;
}

static uint32
rec_hash(const void *key, Size keysize)
{
	const PsRecKey *k = (const PsRecKey *) key;

	return bms_hash_value(k->relids) ^ murmurhash32((uint32) k->block) ^
		(bms_hash_value(k->outer) * 31);
}

static int
rec_match(const void *key1, const void *key2, Size keysize)
{
	const PsRecKey *a = (const PsRecKey *) key1;
	const PsRecKey *b = (const PsRecKey *) key2;

	return (a->block == b->block && bms_equal(a->relids, b->relids) &&
			bms_equal(a->outer, b->outer)) ? 0 : 1;
}

static int
cmp_nameidx(const void *a, const void *b)
{
	return strcmp(((const PsNameIdx *) a)->name, ((const PsNameIdx *) b)->name);
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
lookup_alias(PsLevel *lv, const char *alias)
{
	PsNameIdx	probe;
	PsNameIdx  *hit;

	probe.name = alias;
	probe.rti = 0;
	hit = bsearch(&probe, lv->sorted, lv->nsorted, sizeof(PsNameIdx), cmp_nameidx);
	return hit ? hit->rti : -1;
}

/* copy of the static get_parallel_divisor() in costsize.c (PG15) */
static double
parallel_divisor(Path *path)
{
	double		divisor = path->parallel_workers;

	if (parallel_leader_participation)
	{
		double		leader_contribution;

		leader_contribution = 1.0 - (0.3 * path->parallel_workers);
		if (leader_contribution > 0)
			divisor += leader_contribution;
	}
	return divisor;
}

/*
 * Give an existing rel the injected row count and fix its paths the way the
 * cost functions would have set them: unparameterized paths get the rel's
 * rows, partial paths rows / parallel divisor, parameterized paths
 * min(their parameterized estimate, injected) (PG clamps those to the rel's
 * rows).  Idempotent.
 */
static void
fix_rel_rows(RelOptInfo *rel, double rows)
{
	ListCell   *lc;

	rel->rows = rows;
	foreach(lc, rel->ppilist)
	{
		ParamPathInfo *ppi = (ParamPathInfo *) lfirst(lc);

		if (ppi->ppi_rows > rows)
			ppi->ppi_rows = rows;
	}
	foreach(lc, rel->pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (path->param_info == NULL)
			path->rows = rows;
		else if (path->rows > rows)
			path->rows = rows;
	}
	foreach(lc, rel->partial_pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (path->param_info == NULL)
			path->rows = clamp_row_est(rows / parallel_divisor(path));
	}
}

/*
 * Rebuild a plain relation's paths after its rows changed: what the static
 * set_plain_rel_pathlist() + create_plain_partial_paths() in allpaths.c do.
 */
void
ps_rebuild_plain_rel(PlannerInfo *root, RelOptInfo *rel)
{
	Relids		required_outer = rel->lateral_relids;

	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	rel->ppilist = NIL;			/* re-created with ppi_rows clamped to new rows */
	rel->cheapest_startup_path = NULL;
	rel->cheapest_total_path = NULL;
	rel->cheapest_unique_path = NULL;
	rel->cheapest_parameterized_paths = NIL;

	add_path(rel, create_seqscan_path(root, rel, required_outer, 0));
	if (rel->consider_parallel && required_outer == NULL)
	{
		int			workers = compute_parallel_worker(rel, rel->pages, -1,
													  max_parallel_workers_per_gather);

		if (workers > 0)
			add_partial_path(rel, create_seqscan_path(root, rel, NULL, workers));
	}
	create_index_paths(root, rel);
	create_tidscan_paths(root, rel);
}

static bool
is_plain_table(RangeTblEntry *rte)
{
	return rte->rtekind == RTE_RELATION && rte->tablesample == NULL;
}

/* ---------------------------------------------------------------------
 * recording: key, inner_only, SELECT count(*) text
 * ---------------------------------------------------------------------
 */
static void
append_aliases(StringInfo buf, PsLevel *lv, Relids relids)
{
	int			n = bms_num_members(relids);
	char	  **names = palloc(sizeof(char *) * Max(n, 1));
	int			i = 0;
	int			rti = -1;

	while ((rti = bms_next_member(relids, rti)) >= 0)
	{
		char	   *name = (char *) list_nth(lv->sql.names, rti - 1);

		names[i++] = name ? name : "?";
	}
	qsort(names, n, sizeof(char *), cmp_cstr);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ' ');
		appendStringInfoString(buf, names[i]);
	}
	pfree(names);
}

/* "N/a b", or for a parameterized sub-plan "N/a b | c d" (c d: the outer rels) */
static char *
make_key(PsLevel *lv, Relids relids, Relids outer)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (lv->block > 0)
		appendStringInfo(&buf, "%d/", lv->block);
	append_aliases(&buf, lv, relids);
	if (outer != NULL)
	{
		appendStringInfoString(&buf, " | ");
		append_aliases(&buf, lv, outer);
	}
	return buf.data;
}

/*
 * Is the rel's size that of an inner join of plain tables?  Not when a member
 * is no plain table, nor when it contains an outer, semi or anti join (i.e. it
 * holds part of a special join's nullable / semi side plus something else).
 */
static bool
compute_inner_only(PlannerInfo *root, Relids relids)
{
	int			rti = -1;
	ListCell   *lc;

	while ((rti = bms_next_member(relids, rti)) >= 0)
	{
		if (!is_plain_table(root->simple_rte_array[rti]))
			return false;
	}
	if (bms_membership(relids) != BMS_MULTIPLE)
		return true;
	foreach(lc, root->join_info_list)
	{
		SpecialJoinInfo *sj = (SpecialJoinInfo *) lfirst(lc);

		if (sj->jointype == JOIN_FULL)
		{
			if (bms_overlap(relids, sj->syn_lefthand) &&
				bms_overlap(relids, sj->syn_righthand))
				return false;
		}
		else if (sj->jointype != JOIN_INNER)
		{
			if (bms_overlap(relids, sj->syn_righthand) &&
				!bms_is_subset(relids, sj->syn_righthand))
				return false;
		}
	}
	return true;
}

/*
 * Record one sub-plan (first visit wins, except that a later PlannerInfo of
 * the same block replaces it: a level's MIN/MAX-optimisation copy, which adds
 * "col IS NOT NULL", is planned before the level itself).  ppi: the
 * ParamPathInfo of a parameterized sub-plan, else NULL.
 */
static void
record_subplan(PsLevel *lv, PsSubplanKind kind, Relids relids, ParamPathInfo *ppi,
			   double pg_rows, double target)
{
	PsRecKey	key;
	PsRecEntry *e;
	bool		found;
	MemoryContext oldcxt;

	key.block = lv->block;
	key.relids = relids;
	key.outer = ppi ? ppi->ppi_req_outer : NULL;
	e = (PsRecEntry *) hash_search(st.records, &key, HASH_ENTER, &found);
	if (found && e->owner == lv)
		return;

	oldcxt = MemoryContextSwitchTo(st.cxt);
	if (!found)
	{
		/* the rel may live in a GEQO context */
		e->key.relids = bms_copy(relids);
		e->key.outer = bms_copy(key.outer);
	}
	e->owner = lv;
	e->sp.block = lv->block;
	e->sp.kind = kind;
	e->sp.relids = e->key.relids;
	e->sp.outer = e->key.outer;
	e->sp.nrels = bms_num_members(relids);
	e->sp.key = make_key(lv, relids, key.outer);
	e->sp.pg_rows = pg_rows;
	e->sp.has_injected = target >= 0;
	e->sp.injected_rows = target >= 0 ? target : 0.0;
	e->sp.inner_only = compute_inner_only(lv->sql.root, relids);
	if (st.record != PS_RECORD_SQL)
		e->sp.sql = NULL;
	else if (ppi != NULL)
		e->sp.sql = ps_param_count_sql(&lv->sql, relids, ppi);
	else
		e->sp.sql = ps_count_sql(&lv->sql, relids);
	MemoryContextSwitchTo(oldcxt);
}

/* ---------------------------------------------------------------------
 * per-level state
 * ---------------------------------------------------------------------
 */

/*
 * The most rows a pushed value gives a rel: the product of its base rels'
 * tuple counts (for a base rel, its own).  That is what PG itself estimates
 * for a cross join of them, so no push sizes a plan beyond what stock PG can
 * produce (a pushed 1e15 made parallel hash request > 1 GB of shared memory).
 */
static double
max_rows(PsLevel *lv, Relids relids)
{
	double		bound = 1.0;
	int			rti = -1;

	while ((rti = bms_next_member(relids, rti)) >= 0)
		bound *= clamp_row_est(lv->sql.root->simple_rel_array[rti]->tuples);
	return bound;
}

/* The rels of these aliases of the level; false when one is not of the level */
static bool
lookup_aliases(PsLevel *lv, const char **aliases, int n, Relids *relids)
{
	int			j;

	*relids = NULL;
	for (j = 0; j < n; j++)
	{
		int			rti = lookup_alias(lv, aliases[j]);

		if (rti < 0)
			return false;
		*relids = bms_add_member(*relids, rti);
	}
	return true;
}

/* Translate the pilotscope.cards entries of this level's block, once */
static void
translate_cards(PsLevel *lv)
{
	int			i;

	for (i = 0; i < st.cards->nentries; i++)
	{
		PsCardEntry *e = &st.cards->entries[i];
		Relids		relids;
		Relids		outer;
		int			rti;
		double		rows;

		if (e->block != lv->block || !lookup_aliases(lv, e->aliases, e->naliases, &relids))
			continue;			/* a key not of this query: ignored */
		rows = Min(clamp_row_est(e->rows), max_rows(lv, relids));
		if (e->nouter > 0)
		{
			PsParamTarget *t;

			if (!lookup_aliases(lv, e->outer, e->nouter, &outer))
				continue;
			t = palloc(sizeof(PsParamTarget));
			t->relids = relids;
			t->outer = outer;
			t->rows = rows;
			lv->param_target = lappend(lv->param_target, t);
		}
		else if (bms_get_singleton_member(relids, &rti))
			lv->base_target[rti] = rows;
		else
		{
			PsJoinTarget *t;
			bool		found;

			if (lv->join_target == NULL)
			{
				HASHCTL		ctl;

				ctl.keysize = sizeof(Relids);
				ctl.entrysize = sizeof(PsJoinTarget);
				ctl.hash = bitmap_hash;
				ctl.match = bitmap_match;
				ctl.hcxt = st.cxt;
				lv->join_target = hash_create("pilotscope join targets", 64, &ctl,
											  HASH_ELEM | HASH_FUNCTION |
											  HASH_COMPARE | HASH_CONTEXT);
			}
			t = (PsJoinTarget *) hash_search(lv->join_target, &relids, HASH_ENTER, &found);
			t->rows = rows;
		}
	}
}

/*
 * Is this PlannerInfo the copy of its parent level that planagg.c's
 * build_minmax_path() plans as "SELECT col ... ORDER BY col LIMIT 1" for a
 * MIN/MAX aggregate?  It scans the same range table as its parent, so it
 * shares the parent's block (and keys).
 */
static bool
is_minmax_copy(PlannerInfo *root)
{
	Query	   *parse = root->parse;
	TargetEntry *tle;

	if (root->parent_root == NULL || root->limit_tuples != 1.0 ||
		!root->parent_root->parse->hasAggs ||
		parse->hasAggs || list_length(parse->targetList) != 1 ||
		parse->limitCount == NULL || !IsA(parse->limitCount, Const) ||
		list_length(parse->rtable) != list_length(root->parent_root->parse->rtable))
		return false;
	tle = linitial_node(TargetEntry, parse->targetList);
	return tle->resname != NULL && strcmp(tle->resname, "agg_target") == 0;
}

/*
 * Block number of a query level: 0 for the top level (even when sub-levels
 * such as CTEs and sub-selects are planned first), else 1, 2, ... in order of
 * first need.
 */
static int
block_of(PlannerInfo *root)
{
	ListCell   *lc;
	PsBlock    *b;

	if (root->parent_root == NULL)
		return 0;
	if (is_minmax_copy(root))
		return block_of(root->parent_root);
	foreach(lc, st.blocks)
	{
		b = (PsBlock *) lfirst(lc);
		if (b->root == root)
			return b->block;
	}
	b = MemoryContextAlloc(st.cxt, sizeof(PsBlock));
	b->root = root;
	b->block = ++st.next_block;
	st.blocks = lappend(st.blocks, b);	/* CurrentMemoryContext is st.cxt */
	return b->block;
}

/*
 * First hook call for a PlannerInfo: name its rels, translate the pushed
 * cards, record and inject every base rel of the level.
 */
static PsLevel *
init_level(PlannerInfo *root)
{
	PsLevel    *lv = palloc0(sizeof(PsLevel));
	Bitmapset  *rels_used = NULL;
	int			i;

	lv->sql.root = root;
	lv->block = block_of(root);
	lv->nslots = root->simple_rel_array_size;

	for (i = 1; i < root->simple_rel_array_size; i++)
	{
		RelOptInfo *rel = root->simple_rel_array[i];

		if (rel && rel->reloptkind == RELOPT_BASEREL)
			rels_used = bms_add_member(rels_used, i);
	}
	/* unique names like EXPLAIN's (a, a_1, ...) over this level's range table */
	lv->sql.names = select_rtable_names_for_explain(root->parse->rtable, rels_used);

	lv->sorted = palloc(sizeof(PsNameIdx) * Max(bms_num_members(rels_used), 1));
	i = -1;
	while ((i = bms_next_member(rels_used, i)) >= 0)
	{
		char	   *name = (char *) list_nth(lv->sql.names, i - 1);

		if (name == NULL)
			continue;
		lv->sorted[lv->nsorted].name = name;
		lv->sorted[lv->nsorted].rti = i;
		lv->nsorted++;
	}
	qsort(lv->sorted, lv->nsorted, sizeof(PsNameIdx), cmp_nameidx);

	lv->base_target = palloc(sizeof(double) * lv->nslots);
	for (i = 0; i < lv->nslots; i++)
		lv->base_target[i] = -1.0;
	if (st.cards != NULL)
		translate_cards(lv);

	lv->seen = psw_create(st.cxt, 256, NULL);
	st.levels = lappend(st.levels, lv);

	i = -1;
	while ((i = bms_next_member(rels_used, i)) >= 0)
	{
		RelOptInfo *rel = root->simple_rel_array[i];
		double		target = lv->base_target[i];

		if (IS_DUMMY_REL(rel))
			target = -1.0;		/* proven empty: no size estimate to override */
		if (st.record != PS_RECORD_OFF)
		{
			if (root->simple_rte_array[i]->rtekind == RTE_RELATION)
				st.touched_table = true;
			record_subplan(lv, PS_SUBPLAN_BASE, rel->relids, NULL, rel->rows, target);
		}
		lv->base_target[i] = target;
		if (target >= 0)
		{
			rel->rows = target;
			lv->any_base_target = true;
		}
	}
	return lv;
}

static PsLevel *
get_level(PlannerInfo *root, bool *created)
{
	ListCell   *lc;
	PsLevel    *lv;
	MemoryContext oldcxt;

	*created = false;
	if (st.last_level && st.last_level->sql.root == root)
		return st.last_level;
	foreach(lc, st.levels)
	{
		lv = (PsLevel *) lfirst(lc);
		if (lv->sql.root == root)
		{
			st.last_level = lv;
			return lv;
		}
	}
	oldcxt = MemoryContextSwitchTo(st.cxt);
	lv = init_level(root);
	MemoryContextSwitchTo(oldcxt);
	st.last_level = lv;
	*created = true;
	return lv;
}

static inline bool
hooks_act(void)
{
	return st.active && planner_depth == 1;
}

/* ---------------------------------------------------------------------
 * parameterized sub-plans: a rel's ParamPathInfos
 * ---------------------------------------------------------------------
 */
static PsParamTarget *
find_param_target(PsLevel *lv, Relids relids, Relids outer)
{
	ListCell   *lc;

	foreach(lc, lv->param_target)
	{
		PsParamTarget *t = (PsParamTarget *) lfirst(lc);

		if (bms_equal(t->relids, relids) && bms_equal(t->outer, outer))
			return t;
	}
	return NULL;
}

/* Record each of the rel's parameterized sub-plans (with PG's estimate) on its first visit */
static void
record_ppis(PsLevel *lv, RelOptInfo *rel, Relids relids)
{
	ListCell   *lc;

	foreach(lc, rel->ppilist)
	{
		ParamPathInfo *ppi = (ParamPathInfo *) lfirst(lc);
		PsParamTarget *t = find_param_target(lv, relids, ppi->ppi_req_outer);

		record_subplan(lv, PS_SUBPLAN_PARAM, relids, ppi, ppi->ppi_rows, t ? t->rows : -1.0);
	}
}

/*
 * Give the rel's parameterized sub-plans their pushed rows: the ParamPathInfo
 * and the paths using it (join paths above read those rows).  With
 * pilotscope.cards_parameterized each one must have a pushed value, as in
 * PilotScope when pushed cards were pulled with parameterized sub-plans.
 * Idempotent: a join rel gets ParamPathInfos as its input pairs are joined.
 */
static void
apply_param_targets(PsLevel *lv, RelOptInfo *rel, Relids relids)
{
	ListCell   *lc;
	ListCell   *lp;

	if (lv->param_target == NIL && !st.cards_parameterized)
		return;
	foreach(lc, rel->ppilist)
	{
		ParamPathInfo *ppi = (ParamPathInfo *) lfirst(lc);
		PsParamTarget *t = find_param_target(lv, relids, ppi->ppi_req_outer);

		if (t == NULL)
		{
			if (st.cards_parameterized)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("pilotscope.cards has no row count for the parameterized sub-plan \"%s\"",
								make_key(lv, relids, ppi->ppi_req_outer)),
						 errhint("Push the rows of every sub-plan a pull with parameterized sub-plans "
								 "returned, or SET pilotscope.cards_parameterized = off.")));
			continue;
		}
		if (ppi->ppi_rows == t->rows)
			continue;
		ppi->ppi_rows = t->rows;
		foreach(lp, rel->pathlist)
		{
			Path	   *path = (Path *) lfirst(lp);

			if (path->param_info == ppi)
				path->rows = t->rows;
		}
	}
}

/* ---------------------------------------------------------------------
 * hooks
 * ---------------------------------------------------------------------
 */
static void
ps_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					RangeTblEntry *rte)
{
	/* an appendrel child can be the first call of a level: init it then */
	if (hooks_act() && (rel->reloptkind == RELOPT_BASEREL ||
						rel->reloptkind == RELOPT_OTHER_MEMBER_REL))
	{
		bool		created;
		PsLevel    *lv = get_level(root, &created);

		if (rel->reloptkind == RELOPT_BASEREL && !IS_DUMMY_REL(rel))
		{
			/*
			 * This rel's paths (index loop counts, ParamPathInfo clamps,
			 * bitmap costs) were built before any base rel was injected.
			 */
			if (created && lv->any_base_target &&
				rte->rtekind == RTE_RELATION && !rte->inh &&
				rte->relkind != RELKIND_FOREIGN_TABLE && rte->tablesample == NULL)
				ps_rebuild_plain_rel(root, rel);
			if (st.pin != NULL && root->parent_root == NULL)
				ps_pin_scan(st.pin, root, rel, rti, rte);
			if (st.record_param)
				record_ppis(lv, rel, rel->relids);
			if ((int) rti < lv->nslots && lv->base_target[rti] >= 0)
				fix_rel_rows(rel, lv->base_target[rti]);
			apply_param_targets(lv, rel, rel->relids);
		}
	}

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);
}

/* the join rel's pushed value (-1: none); records it on its first visit */
static double
visit_joinrel(PsLevel *lv, Relids relids, double pg_rows)
{
	double		target = -1.0;

	if (lv->join_target)
	{
		PsJoinTarget *t = (PsJoinTarget *) hash_search(lv->join_target, &relids,
													   HASH_FIND, NULL);

		if (t)
			target = t->rows;
	}
	if (st.record != PS_RECORD_OFF)
		record_subplan(lv, PS_SUBPLAN_JOIN, relids, NULL, pg_rows, target);
	return target;
}

/* the single word of a set of rtindexes < 64 (false when it has more) */
static inline bool
single_word(Relids relids, bitmapword *word)
{
	int			i;

	if (relids == NULL)
		return false;
	for (i = 1; i < relids->nwords; i++)
	{
		if (relids->words[i] != 0)
			return false;
	}
	*word = relids->words[0];
	return true;
}

static void
ps_set_join_pathlist(PlannerInfo *root, RelOptInfo *joinrel,
					 RelOptInfo *outerrel, RelOptInfo *innerrel,
					 JoinType jointype, JoinPathExtraData *extra)
{
	if (hooks_act() && joinrel->reloptkind == RELOPT_JOINREL &&
		(st.record != PS_RECORD_OFF || st.last_level == NULL ||
		 st.last_level->sql.root != root || st.last_level->join_target != NULL ||
		 st.last_level->param_target != NIL || st.cards_parameterized || st.pin != NULL))
	{
		bool		created;
		PsLevel    *lv = get_level(root, &created);
		Relids		relids = base_relids(root, joinrel->relids);
		bitmapword	word;
		double		target;

		if (single_word(relids, &word))
		{
			bool		found;
			PsWordEntry *e = psw_insert(lv->seen, word, &found);

			if (!found)
				e->target = visit_joinrel(lv, relids, joinrel->rows);
			target = e->target;
		}
		else
			target = visit_joinrel(lv, relids, joinrel->rows);

		if (target >= 0 && joinrel->rows != target)
			fix_rel_rows(joinrel, target);
		if (st.record_param)
			record_ppis(lv, joinrel, relids);
		apply_param_targets(lv, joinrel, relids);
		if (st.pin != NULL && root->parent_root == NULL)
			ps_pin_join_paths(st.pin, joinrel, outerrel);
	}

	if (prev_set_join_pathlist_hook)
		prev_set_join_pathlist_hook(root, joinrel, outerrel, innerrel, jointype, extra);
}

/*
 * join_search_hook: run the join search as make_rel_from_joinlist would,
 * then treat the rel it returns like set_join_pathlist_hook does.  This only
 * matters when that rel never reached set_join_pathlist_hook because its
 * restriction list holds a pseudoconstant qual (e.g. "now() > '2000-01-01'"):
 * its rows are then fixed after its paths were chosen, which is still what a
 * core patch gives since path costs do not depend on the rel's own rows.
 * Join rels BELOW such a rel cannot be reached at all.
 */
static RelOptInfo *
ps_join_search(PlannerInfo *root, int levels_needed, List *initial_rels)
{
	RelOptInfo *rel;

	if (st.pin != NULL && hooks_act() && root->parent_root == NULL)
		rel = ps_pin_join_search(st.pin, root, initial_rels);
	else if (prev_join_search_hook)
		rel = prev_join_search_hook(root, levels_needed, initial_rels);
	else if (enable_geqo && levels_needed >= geqo_threshold)
		rel = geqo(root, levels_needed, initial_rels);
	else
		rel = standard_join_search(root, levels_needed, initial_rels);

	if (rel != NULL && hooks_act() && rel->reloptkind == RELOPT_JOINREL &&
		!IS_DUMMY_REL(rel))
	{
		bool		created;
		PsLevel    *lv = get_level(root, &created);
		double		target;

		target = visit_joinrel(lv, base_relids(root, rel->relids), rel->rows);
		if (target >= 0 && rel->rows != target)
			fix_rel_rows(rel, target);
	}
	return rel;
}

/* ---------------------------------------------------------------------
 * statement begin / end
 * ---------------------------------------------------------------------
 */
/*
 * Start a statement: read the settings it plans with, once.  A statement the
 * hooks do not act on (nothing pushed, nothing recorded) gets no state.
 */
static void
stmt_begin(PsPlanRequest *request, PsPin *pin)
{
	PsCards    *cards = pending_cards ? pending_cards : ps_cards;

	pending_cards = NULL;
	memset(&st, 0, sizeof(st));
	st.request = request;
	if (!ps_enabled)
		return;
	if (request != NULL && request->capture)
	{
		st.record = request->with_sql ? PS_RECORD_SQL : PS_RECORD_ROWS;
		st.record_param = request->with_param;
	}
	else if (!capturing_pin)
		st.record = ps_record_mode;
	st.cards_parameterized = ps_cards_parameterized && !capturing_pin;
	st.pin = pin;
	if (cards == NULL && st.record == PS_RECORD_OFF && !st.cards_parameterized && pin == NULL)
		return;

	st.active = true;
	st.cxt = AllocSetContextCreate(CurrentMemoryContext, "pilotscope statement",
								   ALLOCSET_DEFAULT_SIZES);
	st.cards = ps_copy_cards(cards, st.cxt);
	if (st.record != PS_RECORD_OFF)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(PsRecKey);
		ctl.entrysize = sizeof(PsRecEntry);
		ctl.hash = rec_hash;
		ctl.match = rec_match;
		ctl.hcxt = st.cxt;
		st.records = hash_create("pilotscope records", 256, &ctl,
								 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
}

/* lexicographic order of the members (the order DP join search builds rels in) */
static int
cmp_relids(Relids a, Relids b)
{
	int			x = -1;
	int			y = -1;

	for (;;)
	{
		x = bms_next_member(a, x);
		y = bms_next_member(b, y);
		if (x < 0 || y < 0)
			return (x >= 0) - (y >= 0);
		if (x != y)
			return x < y ? -1 : 1;
	}
}

/*
 * Rows in the order PilotScope reports them: by level, base rels (in range
 * table order), parameterized sub-plans, then join rels by size.
 */
static int
cmp_subplan(const void *a, const void *b)
{
	const PsSubplan *x = (const PsSubplan *) a;
	const PsSubplan *y = (const PsSubplan *) b;

	int			c;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->nrels != y->nrels)
		return x->nrels < y->nrels ? -1 : 1;
	c = cmp_relids(x->relids, y->relids);
	return c != 0 ? c : cmp_relids(x->outer, y->outer);
}

/* the recorded sub-plans, sorted, copied into cxt (they outlive the statement; their relids do not) */
static int
copy_records(MemoryContext cxt, PsSubplan **out)
{
	long		n = hash_get_num_entries(st.records);
	PsSubplan  *subs = MemoryContextAlloc(cxt, sizeof(PsSubplan) * Max(n, 1));
	HASH_SEQ_STATUS seq;
	PsRecEntry *e;
	int			i = 0;

	hash_seq_init(&seq, st.records);
	while ((e = (PsRecEntry *) hash_seq_search(&seq)) != NULL)
	{
		subs[i] = e->sp;
		subs[i].key = MemoryContextStrdup(cxt, e->sp.key);
		if (e->sp.sql)
			subs[i].sql = MemoryContextStrdup(cxt, e->sp.sql);
		i++;
	}
	qsort(subs, i, sizeof(PsSubplan), cmp_subplan);
	for (n = 0; n < i; n++)
		subs[n].relids = subs[n].outer = NULL;	/* they die with the statement */
	*out = subs;
	return i;
}

/* Hand the records of a planned statement to pilotscope_subplans() or pilotscope_last() */
static void
stmt_end(void)
{
	if (st.records == NULL)
		return;
	if (st.request != NULL && st.request->capture)
		st.request->nsubs = copy_records(st.request->result_cxt, &st.request->subs);
	else if (st.touched_table)
	{
		/* statements on no table (e.g. SELECT * FROM pilotscope_last()) keep the old record */
		MemoryContextReset(last_cxt);
		last_n = copy_records(last_cxt, &last_subs);
	}
}

static PlannedStmt *ps_planner(Query *parse, const char *query_string, int cursorOptions,
							   ParamListInfo boundParams);

/*
 * The shape to pin a statement to: its plan with pilotscope.pin_cards as the
 * cards, planned as a statement of its own (nothing recorded).
 */
static PsPin *
capture_pin(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	int			depth = planner_depth;
	PlannedStmt *shape;

	pending_cards = ps_pin_cards;
	capturing_pin = true;
	planner_depth = 0;
	PG_TRY();
	{
		/* the planner scribbles on its input */
		shape = ps_planner(copyObject(parse), query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		capturing_pin = false;
		pending_cards = NULL;
		planner_depth = depth;
	}
	PG_END_TRY();
	return ps_pin_from_plan(shape);
}

/*
 * planner_hook.  A statement starts at the outermost planner call, or at the
 * call ps_plan() makes (then the statement being planned, if any, is saved
 * and carries on afterwards).  Planner calls inside a statement's planning
 * (e.g. for the body of a function the planner folds) pass through.  The
 * saved state is restored however planning ends, errors included.
 */
static PlannedStmt *
ps_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	PsPlanRequest *request = pending_request;
	bool		starts = (planner_depth == 0 || request != NULL);
	PsStmt		outer_st = st;
	int			outer_depth = planner_depth;
	PlannedStmt *result;
	PsPin	   *pin = NULL;

	pending_request = NULL;
	if (starts && ps_enabled && ps_pin_cards != NULL && !capturing_pin)
		pin = capture_pin(parse, query_string, cursorOptions, boundParams);
	if (starts)
	{
		stmt_begin(request, pin);
		planner_depth = 0;
	}
	planner_depth++;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
		if (starts)
			stmt_end();
	}
	PG_FINALLY();
	{
		/* PlannerInfos die with the caller's context: nothing may point at them */
		if (starts && st.cxt != NULL)
			MemoryContextDelete(st.cxt);
		st = outer_st;
		planner_depth = outer_depth;
	}
	PG_END_TRY();
	return result;
}

/* ---------------------------------------------------------------------
 * interface for pilotscope.c
 * ---------------------------------------------------------------------
 */

/* Plan a query as a statement of its own, as pilotscope_subplans()/_explain() need */
PlannedStmt *
ps_plan(Query *query, const char *query_string, PsPlanRequest *request)
{
	PsPlanRequest *outer_request = pending_request;
	PlannedStmt *result;

	request->result_cxt = CurrentMemoryContext;
	request->subs = NULL;
	request->nsubs = 0;
	pending_request = request;
	PG_TRY();
	{
		result = pg_plan_query(query, query_string, CURSOR_OPT_PARALLEL_OK, NULL);
	}
	PG_FINALLY();
	{
		pending_request = outer_request;
	}
	PG_END_TRY();
	return result;
}

int
ps_last_result(PsSubplan **out)
{
	*out = last_subs;
	return last_n;
}

void
ps_planner_init(void)
{
	last_cxt = AllocSetContextCreate(TopMemoryContext, "pilotscope last record",
									 ALLOCSET_SMALL_SIZES);

	prev_planner_hook = planner_hook;
	planner_hook = ps_planner;
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = ps_set_rel_pathlist;
	prev_set_join_pathlist_hook = set_join_pathlist_hook;
	set_join_pathlist_hook = ps_set_join_pathlist;
	prev_join_search_hook = join_search_hook;
	join_search_hook = ps_join_search;
}
