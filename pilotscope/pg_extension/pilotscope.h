/*
 * pilotscope.h
 *	  Declarations shared by the pilotscope extension's source files.
 *
 * pilotscope.c  module init, GUCs, parsing of pilotscope.cards, SQL functions
 * ps_planner.c  planner / set_rel_pathlist / set_join_pathlist hooks:
 *               cardinality injection and sub-plan recording (+ SQL deparse)
 * ps_exec.c     executor hooks timing the last top-level statement
 * ps_indexes.c  pilotscope.hidden_indexes: indexes the planner plans without
 */
#ifndef PILOTSCOPE_H
#define PILOTSCOPE_H

#include "postgres.h"

#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

/* pilotscope.record values */
typedef enum PsRecordMode
{
	PS_RECORD_OFF = 0,
	PS_RECORD_ROWS,
	PS_RECORD_SQL
} PsRecordMode;

/*
 * One "key:rows" entry of pilotscope.cards, already normalised: aliases are
 * sorted with strcmp, block is the N of an "N/" prefix (0 when absent).
 */
typedef struct PsCardEntry
{
	int			block;
	int			naliases;
	const char **aliases;
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

/* One recorded sub-plan: a row of pilotscope_subplans() / pilotscope_last() */
typedef struct PsSubplan
{
	int			block;
	bool		is_join;
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
	MemoryContext result_cxt;	/* set by ps_plan(): where subs are copied to */
	PsSubplan  *subs;
	int			nsubs;
} PsPlanRequest;

/* GUC values (pilotscope.c); the planner reads them once, when a statement's planning starts */
extern bool ps_enabled;
extern int	ps_record_mode;
extern PsCards *ps_cards;		/* NULL when the setting is empty */

/* pilotscope.c */
extern PsCards *ps_copy_cards(const PsCards *cards, MemoryContext cxt);
extern void *ps_guc_malloc(size_t size);	/* for a GUC's "extra" */

/* ps_planner.c */
extern void ps_planner_init(void);
extern PlannedStmt *ps_plan(Query *query, const char *query_string,
							PsPlanRequest *request);
extern int	ps_last_result(PsSubplan **out);

/* ps_exec.c */
extern void ps_exec_init(void);
extern bool ps_last_exec_time(double *seconds);

/* ps_indexes.c */
extern void ps_indexes_init(void);

#endif							/* PILOTSCOPE_H */
