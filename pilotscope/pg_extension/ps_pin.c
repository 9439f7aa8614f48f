/*-------------------------------------------------------------------------
 *
 * ps_pin.c
 *	  Plan a statement in the shape of another plan of it: the same scan of
 *	  each base rel (kind and index) and the same joins (which rels, which
 *	  side outer, which method), costed with the cardinalities in force.
 *	  pilotscope.pin_cards = 'cards' plans the statement once with those cards
 *	  to get the shape, then plans it pinned to that shape with
 *	  pilotscope.cards: the cost of the plan chosen with estimated cards
 *	  under true cards, what the p-error needs (PilotScope does it with
 *	  pg_hint_plan hints; stock PostgreSQL has no hint mechanism).
 *
 * Only the top query level is pinned; sorts, hashes, materialization,
 * memoization and parameterization inside the pinned shape are chosen anew.
 *
 *	scans   in set_rel_pathlist_hook the base rel's paths are rebuilt with only
 *	        the pinned scan kind enabled and only the pinned index visible,
 *	        then paths of other kinds are dropped.
 *	joins   the join search builds exactly the pinned joins, bottom-up, with
 *	        make_join_rel and only the pinned method enabled.  Each pair of
 *	        input rels make_join_rel tries (both orders) ends in
 *	        set_join_pathlist_hook, which takes the joinrel's paths of the
 *	        pinned order and method out of its pathlist and drops the others:
 *	        so add_path never compares a later pair's paths with them, and
 *	        they survive to be the joinrel's only paths.
 * A shape that cannot be rebuilt (a scan or join not of the top level, an
 * Append, a join the planner does not offer again) is an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "optimizer/cost.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"

#include "pilotscope.h"

/* the scan of one base rel in the pinned plan */
typedef struct PsPinScan
{
	int			rti;
	NodeTag		kind;			/* T_SeqScan, T_IndexScan, T_IndexOnlyScan, T_BitmapHeapScan */
	Oid			index;			/* index scans */
} PsPinScan;

/* one join of the pinned plan */
typedef struct PsPinJoin
{
	Relids		outer;
	Relids		inner;
	NodeTag		method;			/* T_NestLoop, T_HashJoin, T_MergeJoin */
} PsPinJoin;

struct PsPin
{
	List	   *scans;			/* PsPinScan * */
	List	   *joins;			/* PsPinJoin *, inputs before the joins using them */
	const char *unpinnable;		/* why the shape cannot be rebuilt, or NULL */
	PsPinJoin  *building;		/* the join being built, and its paths so far */
	List	   *kept;
};

static void
cannot_rebuild(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("pilotscope.pin_cards: the plan chosen with them cannot be rebuilt: %s", why),
			 errhint("Pin only plans of one query level over plain tables, or RESET pilotscope.pin_cards.")));
}

/* the base rels a plan subtree scans, recording its scans and joins on the way */
static Relids
walk_plan(PsPin *pin, Plan *plan)
{
	Relids		outer;
	Relids		inner;

	if (plan == NULL)
		return NULL;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
			{
				PsPinScan  *scan = palloc(sizeof(PsPinScan));

				scan->rti = ((Scan *) plan)->scanrelid;
				scan->kind = nodeTag(plan);
				scan->index = IsA(plan, IndexScan) ? ((IndexScan *) plan)->indexid :
					IsA(plan, IndexOnlyScan) ? ((IndexOnlyScan *) plan)->indexid : InvalidOid;
				pin->scans = lappend(pin->scans, scan);
				return bms_make_singleton(scan->rti);
			}
		case T_NestLoop:
		case T_HashJoin:
		case T_MergeJoin:
			{
				PsPinJoin  *join = palloc(sizeof(PsPinJoin));

				outer = walk_plan(pin, outerPlan(plan));
				inner = walk_plan(pin, innerPlan(plan));
				join->outer = outer;
				join->inner = inner;
				join->method = nodeTag(plan);
				pin->joins = lappend(pin->joins, join);
				return bms_union(outer, inner);
			}
		case T_Append:
		case T_MergeAppend:
		case T_RecursiveUnion:
		case T_BitmapAnd:
		case T_BitmapOr:
			pin->unpinnable = "it appends or recurses";
			return NULL;
		default:
			/* other scans are leaves that pin nothing but their rel; the rest pass through */
			if (IsA(plan, SubqueryScan) || IsA(plan, FunctionScan) || IsA(plan, ValuesScan) ||
				IsA(plan, CteScan) || IsA(plan, TidScan) || IsA(plan, TidRangeScan) ||
				IsA(plan, ForeignScan) || IsA(plan, CustomScan) || IsA(plan, SampleScan) ||
				IsA(plan, TableFuncScan) || IsA(plan, NamedTuplestoreScan) || IsA(plan, WorkTableScan))
				return bms_make_singleton(((Scan *) plan)->scanrelid);
			outer = walk_plan(pin, outerPlan(plan));
			inner = walk_plan(pin, innerPlan(plan));
			return bms_union(outer, inner);
	}
}

/* The shape of a plan's top query level (range table indexes of the top level are the final ones) */
PsPin *
ps_pin_from_plan(PlannedStmt *pstmt)
{
	PsPin	   *pin = palloc0(sizeof(PsPin));

	(void) walk_plan(pin, pstmt->planTree);
	return pin;
}

static PsPinScan *
pinned_scan(PsPin *pin, int rti)
{
	ListCell   *lc;

	foreach(lc, pin->scans)
	{
		PsPinScan  *scan = (PsPinScan *) lfirst(lc);

		if (scan->rti == rti)
			return scan;
	}
	return NULL;
}

static bool
scan_matches(Path *path, PsPinScan *scan)
{
	if (path->pathtype != scan->kind)
		return false;
	if (scan->kind == T_IndexScan || scan->kind == T_IndexOnlyScan)
		return ((IndexPath *) path)->indexinfo->indexoid == scan->index;
	return true;
}

/*
 * A base rel of the pinned level: rebuild its paths with only the pinned
 * scan kind enabled (and for an index scan only the pinned index visible),
 * keep those of that kind.  Rels scanned otherwise keep their paths.
 */
void
ps_pin_scan(PsPin *pin, PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	PsPinScan  *scan = pinned_scan(pin, rti);
	bool		saved[4] = {enable_seqscan, enable_indexscan, enable_indexonlyscan, enable_bitmapscan};
	List	   *indexes = rel->indexlist;
	List	   *kept = NIL;
	ListCell   *lc;

	if (pin->unpinnable != NULL)
		cannot_rebuild(pin->unpinnable);
	if (scan == NULL)
		return;
	if (rte->rtekind != RTE_RELATION || rte->inh || rte->relkind == RELKIND_FOREIGN_TABLE ||
		rte->tablesample != NULL)
		cannot_rebuild("a pinned scan is not of a plain table");
	if (scan->index != InvalidOid)
	{
		rel->indexlist = NIL;
		foreach(lc, indexes)
		{
			if (((IndexOptInfo *) lfirst(lc))->indexoid == scan->index)
				rel->indexlist = list_make1(lfirst(lc));
		}
	}
	enable_seqscan = scan->kind == T_SeqScan;
	/* an index-only scan is costed as disabled when index scans are */
	enable_indexscan = scan->kind == T_IndexScan || scan->kind == T_IndexOnlyScan;
	enable_indexonlyscan = scan->kind == T_IndexOnlyScan;
	enable_bitmapscan = scan->kind == T_BitmapHeapScan;
	PG_TRY();
	{
		ps_rebuild_plain_rel(root, rel);
	}
	PG_FINALLY();
	{
		enable_seqscan = saved[0];
		enable_indexscan = saved[1];
		enable_indexonlyscan = saved[2];
		enable_bitmapscan = saved[3];
		rel->indexlist = indexes;
	}
	PG_END_TRY();
	foreach(lc, rel->pathlist)
	{
		if (scan_matches((Path *) lfirst(lc), scan))
			kept = lappend(kept, lfirst(lc));
	}
	if (kept == NIL)
		cannot_rebuild("the planner offers no path of a pinned scan");
	rel->pathlist = kept;
	rel->partial_pathlist = NIL;
}

/* The rel of a pinned join's input: a base rel, or a join built before */
static RelOptInfo *
input_rel(PlannerInfo *root, Relids relids)
{
	RelOptInfo *rel;
	int			rti;

	if (bms_get_singleton_member(relids, &rti))
		rel = (rti < root->simple_rel_array_size) ? root->simple_rel_array[rti] : NULL;
	else
		rel = find_join_rel(root, relids);
	if (rel == NULL || (rel->reloptkind != RELOPT_BASEREL && rel->reloptkind != RELOPT_JOINREL))
		cannot_rebuild("a pinned join reads rels that are not of the top query level");
	return rel;
}

/*
 * The join search of the pinned level: the pinned joins, nothing else.
 * Returns the rel of all initial_rels.
 */
RelOptInfo *
ps_pin_join_search(PsPin *pin, PlannerInfo *root, List *initial_rels)
{
	RelOptInfo *rel = NULL;
	Relids		all = NULL;
	ListCell   *lc;

	if (pin->unpinnable != NULL)
		cannot_rebuild(pin->unpinnable);
	foreach(lc, initial_rels)
		all = bms_add_members(all, ((RelOptInfo *) lfirst(lc))->relids);
	foreach(lc, pin->joins)
	{
		PsPinJoin  *join = (PsPinJoin *) lfirst(lc);
		RelOptInfo *outer = input_rel(root, join->outer);
		RelOptInfo *inner = input_rel(root, join->inner);
		bool		saved[3] = {enable_nestloop, enable_hashjoin, enable_mergejoin};

		enable_nestloop = join->method == T_NestLoop;
		enable_hashjoin = join->method == T_HashJoin;
		enable_mergejoin = join->method == T_MergeJoin;
		pin->building = join;
		pin->kept = NIL;
		PG_TRY();
		{
			rel = make_join_rel(root, outer, inner);
		}
		PG_FINALLY();
		{
			enable_nestloop = saved[0];
			enable_hashjoin = saved[1];
			enable_mergejoin = saved[2];
			pin->building = NULL;
		}
		PG_END_TRY();
		if (rel == NULL || pin->kept == NIL)
			cannot_rebuild("the planner offers no path of a pinned join");
		rel->pathlist = pin->kept;
		rel->partial_pathlist = NIL;
		set_cheapest(rel);
	}
	if (rel == NULL || !bms_equal(rel->relids, all))
		cannot_rebuild("its joins do not join the top query level's rels");
	return rel;
}

/*
 * set_join_pathlist_hook of the join being built: keep its paths of the
 * pinned order and method aside, drop the others, so none competes with the
 * next pair's paths in add_path.
 */
void
ps_pin_join_paths(PsPin *pin, RelOptInfo *joinrel, RelOptInfo *outerrel)
{
	ListCell   *lc;

	if (pin->building == NULL ||
		!bms_equal(joinrel->relids, bms_union(pin->building->outer, pin->building->inner)))
		return;
	if (bms_equal(outerrel->relids, pin->building->outer))
	{
		foreach(lc, joinrel->pathlist)
		{
			Path	   *path = (Path *) lfirst(lc);

			if (path->pathtype == pin->building->method)
				pin->kept = lappend(pin->kept, path);
		}
	}
	joinrel->pathlist = NIL;
	joinrel->partial_pathlist = NIL;
}
