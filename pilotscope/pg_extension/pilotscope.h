/*
 * pilotscope.h
 *	  Declarations shared by the pilotscope extension's source files.
 *
 * pilotscope.c    module init, GUCs, parsing of pilotscope.cards, SQL functions
 * ps_planner.c    planner / set_rel_pathlist / set_join_pathlist hooks:
 *                 cardinality injection and sub-plan recording
 * ps_count_sql.c  the SELECT count(*) text of a sub-plan
 * ps_pin.c        planning a statement in the shape of another plan of it
 * ps_exec.c       executor hooks timing the last top-level statement
 * ps_indexes.c    pilotscope.hidden_indexes: indexes the planner plans without
 */
#ifndef PILOTSCOPE_H
#define PILOTSCOPE_H

#include "postgres.h"

#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "utils/hsearch.h"

/* pilotscope.record values */
typedef enum PsRecordMode
{
	PS_RECORD_OFF = 0,
	PS_RECORD_ROWS,
	PS_RECORD_SQL
} PsRecordMode;

/*
 * One "key:rows" entry of pilotscope.cards, already normalised: aliases are
 * sorted with strcmp, block is the N of an "N/" prefix (0 when absent).  A
 * parameterized sub-plan's key "rel aliases | outer aliases" has nouter > 0:
 * the rel scanned or joined once per row of the outer rels.
 */
typedef struct PsCardEntry
{
	int			block;
	int			naliases;
	const char **aliases;
	int			nouter;
	const char **outer;
	double		rows;			/* as written, >= 0 and finite */
} PsCardEntry;

/*
 * The parsed setting.  It is the GUC "extra", so it is ONE malloc'd chunk:
 * the entries, then all alias pointer arrays, then all alias strings.
 */
typedef struct PsCards
{
	Size		size;			/* of the whole chunk, for ps_copy_cards() */
	int			nentries;
	PsCardEntry entries[FLEXIBLE_ARRAY_MEMBER];
} PsCards;

/* what a recorded sub-plan is: column "kind" of pilotscope_subplans() */
typedef enum PsSubplanKind
{
	PS_SUBPLAN_BASE = 0,		/* "base": a base rel */
	PS_SUBPLAN_PARAM,			/* "param": a rel per row of other rels (a ParamPathInfo) */
	PS_SUBPLAN_JOIN				/* "join": a join rel */
} PsSubplanKind;

/* One recorded sub-plan: a row of pilotscope_subplans() / pilotscope_last() */
typedef struct PsSubplan
{
	int			block;
	PsSubplanKind kind;
	Relids		relids;			/* its base rels (orders the rows) */
	Relids		outer;			/* PS_SUBPLAN_PARAM: the rels it is parameterized by */
	int			nrels;
	char	   *key;
	double		pg_rows;
	bool		has_injected;
	double		injected_rows;
	bool		inner_only;
	char	   *sql;			/* NULL when not built or not expressible */
} PsSubplan;

/*
 * A statement pilotscope_subplans() / pilotscope_explain() have planned by
 * ps_plan(): it is planned as a statement of its own even when that happens
 * while another statement is being planned (a function folded by the planner).
 */
typedef struct PsPlanRequest
{
	bool		capture;		/* record its sub-plans into subs / nsubs */
	bool		with_sql;		/* ... with the SELECT count(*) texts */
	bool		with_param;		/* ... and the parameterized sub-plans */
	MemoryContext result_cxt;	/* set by ps_plan(): where subs are copied to */
	PsSubplan  *subs;
	int			nsubs;
} PsPlanRequest;

/*
 * What building the count SQL of a query level's sub-plans needs
 * (ps_count_sql.c); the caches are made in the memory context current at
 * their first use, which must live as long as the level.
 */
typedef struct PsJoinNode PsJoinNode;
typedef struct PsSqlLevel
{
	PlannerInfo *root;
	List	   *names;			/* unique alias per range table entry (NULL: unnamed) */
	List	   *dpcontext;		/* deparse context, built on first use */
	HTAB	   *clause_text;	/* RestrictInfo * -> deparsed text */
	bool		modelled;		/* jointree (and nnodes) built */
	PsJoinNode *jointree;		/* NULL: no SQL form for this level */
	int			nnodes;
} PsSqlLevel;

/* GUC values (pilotscope.c); the planner reads them once, when a statement's planning starts */
extern bool ps_enabled;
extern int	ps_record_mode;
extern PsCards *ps_cards;		/* NULL when the setting is empty */
extern bool ps_cards_parameterized;	/* every parameterized sub-plan must be in ps_cards */
extern bool ps_parameterized_subplans;	/* pilotscope_subplans() records them too */
extern PsCards *ps_pin_cards;	/* pilotscope.pin_cards: NULL when empty */

/* pilotscope.c */
extern PsCards *ps_copy_cards(const PsCards *cards, MemoryContext cxt);
extern void *ps_guc_malloc(size_t size);	/* for a GUC's "extra" */

/* ps_planner.c */
extern void ps_planner_init(void);
extern PlannedStmt *ps_plan(Query *query, const char *query_string,
							PsPlanRequest *request);
extern int	ps_last_result(PsSubplan **out);

extern void ps_rebuild_plain_rel(PlannerInfo *root, RelOptInfo *rel);

/* ps_pin.c: plan a statement in the shape of its plan with other cards */
typedef struct PsPin PsPin;
extern PsPin *ps_pin_from_plan(PlannedStmt *pstmt);
extern void ps_pin_scan(PsPin *pin, PlannerInfo *root, RelOptInfo *rel, Index rti,
						RangeTblEntry *rte);
extern RelOptInfo *ps_pin_join_search(PsPin *pin, PlannerInfo *root, List *initial_rels);
extern void ps_pin_join_paths(PsPin *pin, RelOptInfo *joinrel, RelOptInfo *outerrel);

/* ps_count_sql.c */
extern char *ps_count_sql(PsSqlLevel *lv, Relids relids);
extern char *ps_param_count_sql(PsSqlLevel *lv, Relids relids, ParamPathInfo *ppi);

/* ps_exec.c */
extern void ps_exec_init(void);
extern bool ps_last_exec_time(double *seconds);

/* ps_indexes.c */
extern void ps_indexes_init(void);

#endif							/* PILOTSCOPE_H */
