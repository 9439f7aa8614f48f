/*-------------------------------------------------------------------------
 *
 * ps_exec.c
 *	  Executor time of the session's last completed top-level statement,
 *	  for pilotscope_last_execution_time().
 *
 * Like auto_explain: a top-level statement is one whose ExecutorStart/End
 * run at executor nesting level 0 (nesting is tracked in ExecutorRun and
 * ExecutorFinish), and Run + Finish are timed with an INSTRUMENT_TIMER
 * queryDesc->totaltime that standard_ExecutorRun/Finish start and stop.
 * To cover ExecutorStart -> ExecutorEnd (what EXPLAIN ANALYZE's "Execution
 * Time" covers) the time spent inside ExecutorStart and ExecutorEnd is added;
 * time between the calls (e.g. a client idling between cursor FETCHes) is
 * not counted.  Planning is excluded.  EXPLAIN without ANALYZE does not
 * count as an execution.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "executor/instrument.h"
#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "pilotscope.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

static int	exec_nesting = 0;

static bool have_last = false;
static double last_seconds = 0.0;

/*
 * Time spent in ExecutorStart per open top-level QueryDesc.  Usually one is
 * open; a few with cursors / extended-protocol portals.  Entries of queries
 * that died with an error are simply overwritten (round robin).
 */
#define PS_START_SLOTS 16
typedef struct StartSlot
{
	QueryDesc  *qd;
	double		start_seconds;
} StartSlot;
static StartSlot start_slots[PS_START_SLOTS];
static int	next_slot = 0;

static void
remember_start(QueryDesc *qd, double secs)
{
	int			i;

	for (i = 0; i < PS_START_SLOTS; i++)
	{
		if (start_slots[i].qd == qd)
		{
			start_slots[i].start_seconds = secs;
			return;
		}
	}
	start_slots[next_slot].qd = qd;
	start_slots[next_slot].start_seconds = secs;
	next_slot = (next_slot + 1) % PS_START_SLOTS;
}

/* returns the remembered ExecutorStart time and forgets it; -1 if none */
static double
take_start(QueryDesc *qd)
{
	int			i;

	for (i = 0; i < PS_START_SLOTS; i++)
	{
		if (start_slots[i].qd == qd)
		{
			start_slots[i].qd = NULL;
			return start_slots[i].start_seconds;
		}
	}
	return -1.0;
}

static void
ps_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	bool		timed = ps_enabled && exec_nesting == 0 &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0;
	instr_time	t0;
	instr_time	t1;

	if (timed)
		INSTR_TIME_SET_CURRENT(t0);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (timed)
	{
		/* share totaltime if another extension (pg_stat_statements) made one */
		if (queryDesc->totaltime == NULL)
		{
			MemoryContext oldcxt;

			oldcxt = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
			queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_TIMER, false);
			MemoryContextSwitchTo(oldcxt);
		}
		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		remember_start(queryDesc, INSTR_TIME_GET_DOUBLE(t1));
	}
}

static void
ps_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	exec_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		exec_nesting--;
	}
	PG_END_TRY();
}

static void
ps_ExecutorFinish(QueryDesc *queryDesc)
{
	exec_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		exec_nesting--;
	}
	PG_END_TRY();
}

static void
ps_ExecutorEnd(QueryDesc *queryDesc)
{
	double		start_secs = -1.0;
	double		run_secs = 0.0;
	bool		timed = false;
	instr_time	t0;
	instr_time	t1;

	if (ps_enabled && exec_nesting == 0)
	{
		start_secs = take_start(queryDesc);
		/* start_secs < 0: ExecutorStart ran before the library was loaded */
		if (start_secs >= 0.0 && queryDesc->totaltime != NULL)
		{
			/* like auto_explain; a second InstrEndLoop (pg_stat_statements) is a no-op */
			InstrEndLoop(queryDesc->totaltime);
			run_secs = queryDesc->totaltime->total;
			timed = true;
			INSTR_TIME_SET_CURRENT(t0);
		}
	}

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);

	if (timed)
	{
		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		last_seconds = start_secs + run_secs + INSTR_TIME_GET_DOUBLE(t1);
		have_last = true;
	}
}

bool
ps_last_exec_time(double *seconds)
{
	*seconds = last_seconds;
	return have_last;
}

void
ps_exec_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = ps_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ps_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ps_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = ps_ExecutorEnd;
}
