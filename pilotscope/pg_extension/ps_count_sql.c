/*-------------------------------------------------------------------------
 *
 * ps_count_sql.c
 *	  The SELECT count(*) text of a sub-plan: a query whose result is the
 *	  number of rows the planner's rel for a set of base rels produces, outer,
 *	  semi and anti joins included.
 *
 * A rel of a query level produces the level's join tree restricted to the
 * rel's base rels: an outer, semi or anti join whose two sides the rel
 * overlaps is performed (the planner forms a rel only when that is legal),
 * the others are absent, and each clause applies once its required_relids are
 * in (that is where the planner evaluates it).  So the text is built from
 *	- the STRUCTURE of the level's join tree: parse->jointree after
 *	  preprocessing (sublinks pulled up into SEMI/ANTI JoinExprs, outer joins
 *	  reduced), pruned to the rel's base rels, and
 *	- the planner's CLAUSES: base restrictions (those it derived included),
 *	  join clauses whose required_relids fall inside, and the equalities of
 *	  equivalence classes generated for each join of the pruned tree.  A clause
 *	  goes to the lowest node of the pruned tree holding its required_relids:
 *	  at an outer join a non-pushed-down clause is its ON condition and a
 *	  pushed-down one filters its output; at a semi join it is the condition.
 * Inner joins become a FROM list (nested: "a INNER JOIN b ON ..."), LEFT and
 * FULL joins stay joins, semi/anti joins become [NOT] EXISTS.  Filters lift
 * through preserved sides into the WHERE, or into the ON of the outer join
 * whose nullable side they filter (filtering a nullable side before the join
 * and in its ON give the same rows).  Above an anti join its inner side's
 * columns are NULL, as in the executor.
 *
 * No text (NULL) when a member is no plain table, a clause has no standalone
 * SQL form (SubPlans, Params), or the shape has no form here: a filter on a
 * FULL join's side that is not one table, a PlaceHolderVar in a sub-plan with
 * an outer join, a semi join's inner side referenced above it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"

#include "pilotscope.h"

typedef enum PsJoinKind
{
	PJ_REL,						/* a base rel (RangeTblRef) */
	PJ_INNER,					/* FROM list / inner joins: any number of children */
	PJ_LEFT,					/* children: preserved side, nullable side */
	PJ_FULL,
	PJ_SEMI,					/* children: outer side, inner (EXISTS) side */
	PJ_ANTI
} PsJoinKind;

/* one node of the level's join tree */
struct PsJoinNode
{
	PsJoinKind	kind;
	int			id;				/* index into a build's per-node arrays */
	int			rti;			/* PJ_REL */
	Relids		relids;			/* base rels below */
	List	   *children;		/* PsJoinNode * */
};

/* cache entry: a clause's deparsed text */
typedef struct PsClauseText
{
	RestrictInfo *rinfo;
	char	   *text;			/* NULL: no standalone SQL form */
	bool		has_phv;		/* it contained PlaceHolderVars (stripped) */
} PsClauseText;

/* what one ps_count_sql() call works with */
typedef struct Build
{
	PsSqlLevel *lv;
	Relids		rels;			/* the sub-plan's base rels */
	List	  **attached;		/* [node id]: RestrictInfos evaluated at that node */
	bool		ok;				/* false once something has no SQL form */
	bool		outer_join;		/* the pruned tree performs an outer/semi/anti join */
	bool		phv;			/* a clause contained a PlaceHolderVar */
} Build;

/*
 * A rendered node: FROM items and filters on their output.  More than one
 * item only for an inner join, whose filters a caller may lift or close into
 * an ON.  visible: base rels whose columns the output has; nulled: those
 * whose columns are NULL there (below an anti join's inner side).
 */
typedef struct Rendered
{
	List	   *items;			/* char *; NIL when the node holds none of the rels */
	bool		is_join;		/* the single item is an unparenthesized join */
	int			leaf_rti;		/* the single item is this base rel, else 0 */
	List	   *preds;			/* char * */
	Relids		visible;
	Relids		nulled;
} Rendered;

/* ---------------------------------------------------------------------
 * the level's join tree
 * ---------------------------------------------------------------------
 */
static void
add_child(PsJoinNode *parent, PsJoinNode *child)
{
	if (child->kind == PJ_INNER && parent->kind == PJ_INNER)
		parent->children = list_concat(parent->children, child->children);
	else
		parent->children = lappend(parent->children, child);
	parent->relids = bms_add_members(parent->relids, child->relids);
}

/* The model of a jointree node; NULL for a node kind no SQL is built for */
static PsJoinNode *
model_node(PsSqlLevel *lv, Node *jt)
{
	PsJoinNode *n = palloc0(sizeof(PsJoinNode));
	ListCell   *lc;

	n->id = lv->nnodes++;
	if (IsA(jt, RangeTblRef))
	{
		n->kind = PJ_REL;
		n->rti = ((RangeTblRef *) jt)->rtindex;
		n->relids = bms_make_singleton(n->rti);
	}
	else if (IsA(jt, FromExpr))
	{
		n->kind = PJ_INNER;
		foreach(lc, ((FromExpr *) jt)->fromlist)
		{
			PsJoinNode *child = model_node(lv, lfirst(lc));

			if (child == NULL)
				return NULL;
			add_child(n, child);
		}
	}
	else if (IsA(jt, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jt;
		PsJoinNode *left = model_node(lv, j->larg);
		PsJoinNode *right = model_node(lv, j->rarg);

		if (left == NULL || right == NULL)
			return NULL;
		switch (j->jointype)
		{
			case JOIN_INNER:
				n->kind = PJ_INNER;
				add_child(n, left);
				add_child(n, right);
				return n;
			case JOIN_LEFT:
				n->kind = PJ_LEFT;
				break;
			case JOIN_RIGHT:	/* preprocessing normally turned these LEFT */
				n->kind = PJ_LEFT;
				right = left;
				left = model_node(lv, j->rarg);
				if (left == NULL)
					return NULL;
				break;
			case JOIN_FULL:
				n->kind = PJ_FULL;
				break;
			case JOIN_SEMI:
				n->kind = PJ_SEMI;
				break;
			case JOIN_ANTI:
				n->kind = PJ_ANTI;
				break;
			default:
				return NULL;
		}
		n->children = list_make2(left, right);
		n->relids = bms_union(left->relids, right->relids);
	}
	else
		return NULL;
	return n;
}

static PsJoinNode *
level_jointree(PsSqlLevel *lv)
{
	if (!lv->modelled)
	{
		lv->jointree = model_node(lv, (Node *) lv->root->parse->jointree);
		lv->modelled = true;
	}
	return lv->jointree;
}

/* ---------------------------------------------------------------------
 * clause texts
 * ---------------------------------------------------------------------
 */

/* PlaceHolderVars are not deparsable; below any outer join they equal their expression */
static Node *
strip_phvs_mutator(Node *node, bool *found)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, PlaceHolderVar))
	{
		*found = true;
		return strip_phvs_mutator((Node *) ((PlaceHolderVar *) node)->phexpr, found);
	}
	return expression_tree_mutator(node, strip_phvs_mutator, found);
}

/* SubPlans, Params (correlation, $n) and SubLinks cannot be written as standalone SQL */
static bool
not_expressible_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubPlan) || IsA(node, AlternativeSubPlan) ||
		IsA(node, Param) || IsA(node, SubLink))
		return true;
	return expression_tree_walker(node, not_expressible_walker, context);
}

/* the Vars of these rels become NULL constants of their type */
static Node *
null_vars_mutator(Node *node, Relids nulled)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0 &&
		bms_is_member(((Var *) node)->varno, nulled))
	{
		Var		   *var = (Var *) node;

		return (Node *) makeNullConst(var->vartype, var->vartypmod, var->varcollid);
	}
	return expression_tree_mutator(node, null_vars_mutator, nulled);
}

static List *
level_dpcontext(PsSqlLevel *lv)
{
	if (lv->dpcontext == NIL)
	{
		PlannedStmt *pstmt = makeNode(PlannedStmt);

		pstmt->rtable = lv->root->parse->rtable;
		lv->dpcontext = deparse_context_for_plan_tree(pstmt, lv->names);

		/*
		 * Without a plan ruleutils prefers a Var's syntactic referent, which
		 * can be a JOIN alias; a (dummy) plan makes it print the base rel.
		 */
		lv->dpcontext = set_deparse_context_plan(lv->dpcontext,
												 (Plan *) makeNode(Result), NIL);
	}
	return lv->dpcontext;
}

/*
 * A clause's text, cached per RestrictInfo: the same clauses recur in
 * thousands of sub-plans, and the RestrictInfos (equivalence-class ones
 * included) live as long as the level.
 */
static PsClauseText *
clause_entry(PsSqlLevel *lv, RestrictInfo *rinfo)
{
	PsClauseText *ct;
	bool		found;

	if (lv->clause_text == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RestrictInfo *);
		ctl.entrysize = sizeof(PsClauseText);
		ctl.hcxt = CurrentMemoryContext;
		lv->clause_text = hash_create("pilotscope clause text", 256, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ct = (PsClauseText *) hash_search(lv->clause_text, &rinfo, HASH_ENTER, &found);
	if (!found)
	{
		bool		has_phv = false;
		Node	   *clause = strip_phvs_mutator((Node *) rinfo->clause, &has_phv);

		ct->has_phv = has_phv;
		ct->text = not_expressible_walker(clause, NULL) ? NULL :
			deparse_expression(clause, level_dpcontext(lv), true, false);
	}
	return ct;
}

/*
 * preds plus the text of a clause evaluated where the columns of "visible"
 * are there and those of "nulled" are NULL (b->ok false when it has none).
 */
static List *
add_clause_sql(Build *b, List *preds, RestrictInfo *rinfo, Relids visible, Relids nulled)
{
	PsClauseText *ct = clause_entry(b->lv, rinfo);
	Relids		used = pull_varnos(b->lv->root, (Node *) rinfo->clause);

	b->phv |= ct->has_phv;
	if (ct->text == NULL || !bms_is_subset(used, bms_union(visible, nulled)))
	{
		b->ok = false;
		return preds;
	}
	if (bms_overlap(used, nulled))
	{
		bool		has_phv = false;
		Node	   *clause = strip_phvs_mutator((Node *) rinfo->clause, &has_phv);

		return lappend(preds, deparse_expression(null_vars_mutator(clause, nulled),
												 level_dpcontext(b->lv), true, false));
	}
	return lappend(preds, ct->text);
}

/* ---------------------------------------------------------------------
 * placing clauses
 * ---------------------------------------------------------------------
 */
static Relids
held(Build *b, PsJoinNode *n)
{
	return bms_intersect(n->relids, b->rels);
}

/* Attach a clause to the lowest node whose part of the sub-plan holds "required" */
static void
attach(Build *b, PsJoinNode *n, RestrictInfo *rinfo)
{
	Relids		required = rinfo->required_relids;
	ListCell   *lc;

	for (;;)
	{
		PsJoinNode *next = NULL;

		foreach(lc, n->children)
		{
			PsJoinNode *child = (PsJoinNode *) lfirst(lc);

			if (bms_overlap(child->relids, b->rels) &&
				bms_is_subset(required, child->relids))
			{
				next = child;
				break;
			}
		}
		if (next == NULL)
			break;
		n = next;
	}
	if (!list_member_ptr(b->attached[n->id], rinfo))
		b->attached[n->id] = lappend(b->attached[n->id], rinfo);
}

/* equalities of equivalence classes that join "inner" to "outer" */
static List *
implied_equalities(Build *b, Relids outer, Relids inner)
{
	PlannerInfo *root = b->lv->root;
	RelOptInfo *inner_rel;
	int			rti;

	if (bms_is_empty(outer) || bms_is_empty(inner))
		return NIL;
	if (bms_get_singleton_member(inner, &rti))
		inner_rel = root->simple_rel_array[rti];
	else
	{
		/* only its relids are read for a rel that is no appendrel child */
		inner_rel = makeNode(RelOptInfo);
		inner_rel->reloptkind = RELOPT_JOINREL;
		inner_rel->relids = inner;
	}
#if PG_VERSION_NUM >= 160000
	return generate_join_implied_equalities(root, bms_union(outer, inner), outer, inner_rel, NULL);
#else
	return generate_join_implied_equalities(root, bms_union(outer, inner), outer, inner_rel);
#endif
}

static void
attach_all(Build *b, PsJoinNode *n, List *rinfos)
{
	ListCell   *lc;

	foreach(lc, rinfos)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (!list_member_ptr(b->attached[n->id], rinfo))
			b->attached[n->id] = lappend(b->attached[n->id], rinfo);
	}
}

/* ---------------------------------------------------------------------
 * rendering
 * ---------------------------------------------------------------------
 */
static char *
rel_item(Build *b, int rti)
{
	RangeTblEntry *rte = b->lv->root->simple_rte_array[rti];
	char	   *relname = get_rel_name(rte->relid);
	StringInfoData buf;

	if (relname == NULL)
	{
		b->ok = false;
		return "?";
	}
	initStringInfo(&buf);
	/* FROM ONLY when the query excluded the children */
	if (!rte->inh && has_subclass(rte->relid))
		appendStringInfoString(&buf, "ONLY ");
	if (RelationIsVisible(rte->relid))
		appendStringInfoString(&buf, quote_identifier(relname));
	else
		appendStringInfoString(&buf,
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(rte->relid)),
														  relname));
	appendStringInfo(&buf, " AS %s",
					 quote_identifier((char *) list_nth(b->lv->names, rti - 1)));
	return buf.data;
}

static void
append_conjunction(StringInfo buf, List *preds)
{
	ListCell   *lc;

	if (preds == NIL)
	{
		appendStringInfoString(buf, "true");
		return;
	}
	foreach(lc, preds)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, " AND ");
		appendStringInfoString(buf, (char *) lfirst(lc));
	}
}

/*
 * The node as ONE FROM item; an inner join of several items closes its
 * filters into its last ON, others keep them in r->preds for the caller.
 */
static char *
as_item(Rendered *r, bool operand_of_join)
{
	StringInfoData buf;
	ListCell   *lc;

	if (list_length(r->items) == 1)
	{
		char	   *item = (char *) linitial(r->items);

		return (r->is_join && operand_of_join) ? psprintf("(%s)", item) : item;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, r->items)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, " INNER JOIN ");
		appendStringInfoString(&buf, (char *) lfirst(lc));
		if (foreach_current_index(lc) > 0)
		{
			appendStringInfoString(&buf, " ON ");
			append_conjunction(&buf, lnext(r->items, lc) ? NIL : r->preds);
		}
	}
	appendStringInfoChar(&buf, ')');
	r->preds = NIL;
	return buf.data;
}

/* "FROM items [WHERE filters]" of a query over the node */
static char *
as_body(Rendered *r, List *more_preds)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *preds = list_concat_copy(r->preds, more_preds);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "FROM ");
	foreach(lc, r->items)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, (char *) lfirst(lc));
	}
	if (preds != NIL)
	{
		appendStringInfoString(&buf, " WHERE ");
		append_conjunction(&buf, preds);
	}
	return buf.data;
}

static void render(Build *b, PsJoinNode *n, Rendered *out);

static void
render_inner(Build *b, PsJoinNode *n, Rendered *out)
{
	Relids		prefix = NULL;
	ListCell   *lc;
	int			parts = 0;
	Rendered	only;

	foreach(lc, n->children)
	{
		Rendered	part;

		render(b, (PsJoinNode *) lfirst(lc), &part);
		if (part.items == NIL)
			continue;
		if (parts++ == 0)
			only = part;
		attach_all(b, n, implied_equalities(b, prefix, part.visible));
		prefix = bms_union(prefix, part.visible);
		out->items = list_concat(out->items, list_length(part.items) > 1 ? part.items :
								 list_make1(as_item(&part, false)));
		out->preds = list_concat(out->preds, part.preds);
		out->visible = bms_union(out->visible, part.visible);
		out->nulled = bms_union(out->nulled, part.nulled);
	}
	if (parts == 1)
	{
		*out = only;			/* nothing is evaluated at a node holding one part */
		return;
	}
	foreach(lc, b->attached[n->id])
		out->preds = add_clause_sql(b, out->preds, lfirst_node(RestrictInfo, lc),
									out->visible, out->nulled);
}

/* a FULL join's side with its filters inside: a table's become a derived table of it */
static char *
closed_item(Build *b, Rendered *r)
{
	char	   *item = as_item(r, true);

	if (r->preds == NIL)
		return item;
	if (r->leaf_rti == 0)
	{
		b->ok = false;
		return item;
	}
	item = psprintf("(SELECT * %s) AS %s", as_body(r, NIL),
					quote_identifier((char *) list_nth(b->lv->names, r->leaf_rti - 1)));
	r->preds = NIL;
	return item;
}

static void
render_join(Build *b, PsJoinNode *n, Rendered *out)
{
	Rendered	left;
	Rendered	right;
	Relids		inside;
	Relids		inside_nulled;
	Relids		here = held(b, n);
	List	   *conds = NIL;
	List	   *post = NIL;
	List	   *post_rinfos = NIL;
	StringInfoData buf;
	ListCell   *lc;

	render(b, (PsJoinNode *) linitial(n->children), &left);
	render(b, (PsJoinNode *) lsecond(n->children), &right);
	if (left.items == NIL || right.items == NIL)
	{
		*out = left.items == NIL ? right : left;	/* the join is not performed */
		return;
	}
	b->outer_join = true;
	inside = bms_union(left.visible, right.visible);
	inside_nulled = bms_union(left.nulled, right.nulled);
	attach_all(b, n, implied_equalities(b, left.visible, right.visible));
	foreach(lc, b->attached[n->id])
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (n->kind == PJ_SEMI || !RINFO_IS_PUSHED_DOWN(rinfo, here))
			conds = add_clause_sql(b, conds, rinfo, inside, inside_nulled);
		else
			post_rinfos = lappend(post_rinfos, rinfo);
	}

	initStringInfo(&buf);
	if (n->kind == PJ_LEFT || n->kind == PJ_FULL)
	{
		char	   *l = n->kind == PJ_FULL ? closed_item(b, &left) : as_item(&left, false);
		char	   *r = n->kind == PJ_FULL ? closed_item(b, &right) : as_item(&right, true);

		/* the nullable side's filters go into the ON */
		appendStringInfo(&buf, "%s %s JOIN %s ON ", l, n->kind == PJ_FULL ? "FULL" : "LEFT", r);
		append_conjunction(&buf, list_concat(conds, right.preds));
		out->items = list_make1(buf.data);
		out->is_join = true;
		out->preds = left.preds;
		out->visible = inside;
		out->nulled = inside_nulled;
	}
	else
	{
		/* the inner side is an [NOT] EXISTS on the outer side's output */
		appendStringInfo(&buf, "%sEXISTS (SELECT 1 %s)", n->kind == PJ_ANTI ? "NOT " : "",
						 as_body(&right, conds));
		*out = left;
		out->preds = lappend(list_copy(left.preds), buf.data);
		if (n->kind == PJ_ANTI)
			out->nulled = bms_union(left.nulled, bms_union(right.visible, right.nulled));
	}
	foreach(lc, post_rinfos)
		post = add_clause_sql(b, post, lfirst_node(RestrictInfo, lc), out->visible, out->nulled);
	out->preds = list_concat(out->preds, post);
}

static void
render(Build *b, PsJoinNode *n, Rendered *out)
{
	ListCell   *lc;

	memset(out, 0, sizeof(Rendered));
	if (!bms_overlap(n->relids, b->rels))
		return;
	switch (n->kind)
	{
		case PJ_REL:
			out->items = list_make1(rel_item(b, n->rti));
			out->leaf_rti = n->rti;
			out->visible = bms_make_singleton(n->rti);
			foreach(lc, b->attached[n->id])
				out->preds = add_clause_sql(b, out->preds, lfirst_node(RestrictInfo, lc),
											out->visible, NULL);
			break;
		case PJ_INNER:
			render_inner(b, n, out);
			break;
		default:
			render_join(b, n, out);
			break;
	}
}

/* ---------------------------------------------------------------------
 * interface
 * ---------------------------------------------------------------------
 */

/* The rel is plain tables only, all of them leaves of the level's join tree */
static bool
countable(PsSqlLevel *lv, PsJoinNode *tree, Relids relids)
{
	int			rti = -1;

	if (tree == NULL || !bms_is_subset(relids, tree->relids))
		return false;
	while ((rti = bms_next_member(relids, rti)) >= 0)
	{
		RangeTblEntry *rte = lv->root->simple_rte_array[rti];

		if (rte->rtekind != RTE_RELATION || rte->tablesample != NULL)
			return false;
	}
	return true;
}

/* "FROM ... WHERE ..." of the rel's rows, NULL when it has no SQL form */
static char *
count_body(PsSqlLevel *lv, Relids relids)
{
	PsJoinNode *tree = level_jointree(lv);
	PlannerInfo *root = lv->root;
	Build		b = {lv, relids};
	Rendered	top;
	int			rti;
	ListCell   *lc;

	if (!countable(lv, tree, relids))
		return NULL;
	b.ok = true;
	b.attached = palloc0(sizeof(List *) * lv->nnodes);

	/* base restrictions, and join clauses applicable inside the rel */
	rti = -1;
	while ((rti = bms_next_member(relids, rti)) >= 0)
	{
		RelOptInfo *rel = root->simple_rel_array[rti];

		foreach(lc, rel->baserestrictinfo)
			attach(&b, tree, lfirst_node(RestrictInfo, lc));
		foreach(lc, rel->joininfo)
		{
			RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

			if (bms_is_subset(rinfo->required_relids, relids))
				attach(&b, tree, rinfo);
		}
	}

	render(&b, tree, &top);
	if (!b.ok || (b.phv && b.outer_join))
		return NULL;
	return as_body(&top, NIL);
}

char *
ps_count_sql(PsSqlLevel *lv, Relids relids)
{
	char	   *body = count_body(lv, relids);

	return body ? psprintf("SELECT count(*) %s", body) : NULL;
}

/*
 * A parameterized sub-plan (the rel scanned or joined once per row of the
 * rels in ppi->ppi_req_outer): the rel's count, then per parameterized join
 * clause "rel.key = outer.key" the number of distinct outer keys
 *	 SELECT count(*) ...; SELECT count(DISTINCT outer.key) FROM outer ...;
 * (rows per outer row ~ the first / the second), then a comment.  NULL when
 * the rel's count has no SQL form or a clause is no "a op b" between the rel
 * and plain outer tables.
 */
char *
ps_param_count_sql(PsSqlLevel *lv, Relids relids, ParamPathInfo *ppi)
{
	char	   *count = ps_count_sql(lv, relids);
	StringInfoData buf;
	ListCell   *lc;
	PsJoinNode *tree = level_jointree(lv);

	if (count == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s;", count);
	foreach(lc, ppi->ppi_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		OpExpr	   *op = (OpExpr *) rinfo->clause;
		Node	   *outer_arg;
		Relids		outer_rels;
		int			rti = -1;

		if (bms_is_subset(rinfo->required_relids, relids))
			continue;			/* not a parameterizing clause */
		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			return NULL;
		if (bms_is_subset(rinfo->left_relids, relids))
		{
			outer_arg = lsecond(op->args);
			outer_rels = rinfo->right_relids;
		}
		else if (bms_is_subset(rinfo->right_relids, relids))
		{
			outer_arg = linitial(op->args);
			outer_rels = rinfo->left_relids;
		}
		else
			return NULL;
		if (bms_is_empty(outer_rels) || !countable(lv, tree, outer_rels) ||
			not_expressible_walker(outer_arg, NULL))
			return NULL;
		appendStringInfo(&buf, " SELECT count(DISTINCT %s) FROM ",
						 deparse_expression(outer_arg, level_dpcontext(lv), true, false));
		while ((rti = bms_next_member(outer_rels, rti)) >= 0)
		{
			Build		b = {lv, outer_rels, NULL, true};
			char	   *item = rel_item(&b, rti);

			if (!b.ok)
				return NULL;
			appendStringInfo(&buf, "%s%s", rti == bms_next_member(outer_rels, -1) ? "" : ", ", item);
		}
		appendStringInfoChar(&buf, ';');
	}
	appendStringInfoString(&buf, " /* parameterized: rows per outer row = count / distinct outer keys */");
	return buf.data;
}
