/*
 * pilotscope.h
 *	  Declarations shared by the pilotscope extension's source files.
 *
 * pilotscope.c  module init, GUCs, parsing of pilotscope.cards, SQL functions
 * ps_planner.c  planner / set_rel_pathlist / set_join_pathlist hooks:
 *               cardinality injection and sub-plan recording (+ SQL deparse)
 * ps_exec.c     executor hooks timing the last top-level statement
 */
#ifndef PILOTSCOPE_H
#define PILOTSCOPE_H

#include "postgres.h"

#include "funcapi.h"

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

/* GUC values (pilotscope.c) */
extern bool ps_enabled;
extern int	ps_record_mode;
extern PsCards *ps_cards;		/* NULL when the setting is empty */

/* ps_planner.c */
extern void ps_planner_init(void);
extern void ps_request_capture(bool with_sql);
extern void ps_cancel_capture(void);
extern int	ps_capture_result(PsSubplan **out);
extern int	ps_last_result(PsSubplan **out);

/* ps_exec.c */
extern void ps_exec_init(void);
extern bool ps_last_exec_time(double *seconds);

#endif							/* PILOTSCOPE_H */
