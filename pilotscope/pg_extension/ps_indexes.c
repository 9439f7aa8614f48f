/*-------------------------------------------------------------------------
 *
 * ps_indexes.c
 *	  pilotscope.hidden_indexes: indexes the planner plans without.
 *
 *	  SET pilotscope.hidden_indexes = '16390, 16402'
 *
 * makes the planner of this session plan as if those indexes (by OID) did
 * not exist: a get_relation_info_hook removes them from each relation's index
 * list, which is everything the planner knows of a relation's indexes (scans,
 * uniqueness proofs, join removal).  Nothing is dropped, locked or written,
 * and other sessions are unaffected.  This is what hypopg 1.4's
 * hypopg_hide_index() does, as a setting instead of a function, so that it
 * can be scoped like any setting: SET LOCAL for one transaction (the
 * interactor's one-message executions), or a session default given at
 * connection time (libpq "options=-c pilotscope.hidden_indexes=...").  An
 * index advisor times each query with and without the indexes it built this
 * way, back to back on one connection.
 *
 * The value is a list of index OIDs separated by commas and/or white space
 * (OIDs, not names: a check hook cannot read the catalog).  It is parsed
 * once, in the check hook, into a sorted array; an OID that names no index
 * hides nothing.  The hook reads the setting in force when a relation's
 * information is gathered, and passes straight through when
 * pilotscope.enabled is off or the list is empty.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>

#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "optimizer/plancat.h"
#include "utils/guc.h"

#include "pilotscope.h"

/* the parsed setting: one malloc'd chunk, the GUC's "extra" */
typedef struct PsHiddenIndexes
{
	int			noids;
	Oid			oids[FLEXIBLE_ARRAY_MEMBER];	/* sorted, distinct */
} PsHiddenIndexes;

static char *hidden_indexes_string = NULL;
static PsHiddenIndexes *hidden_indexes = NULL;	/* NULL: nothing hidden */
static get_relation_info_hook_type prev_get_relation_info_hook = NULL;

static int
cmp_oid(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static bool
is_separator(char c)
{
	return c == ',' || isspace((unsigned char) c);
}

/* Check hooks must not throw: a bad entry is reported with GUC_check_errdetail and false */
static bool
check_hidden_indexes(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;
	int			n = 0;
	int			nalloc = 8;
	Oid		   *oids;
	PsHiddenIndexes *parsed;
	int			kept;
	int			i;

	*extra = NULL;
	if (p == NULL)
		return true;
	oids = palloc(sizeof(Oid) * nalloc);
	while (*p)
	{
		const char *start;
		char	   *end;
		unsigned long value;

		while (is_separator(*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p && !is_separator(*p))
			p++;
		errno = 0;
		value = strtoul(start, &end, 10);
		if (!isdigit((unsigned char) *start) || end != p || errno != 0 || value == InvalidOid ||
			value > PG_UINT32_MAX)
		{
			GUC_check_errdetail("\"%.*s\" is not an index OID (a whole number from 1 to %u); "
								"write OIDs separated by commas, e.g. '16390, 16402'.",
								(int) (p - start), start, PG_UINT32_MAX);
			return false;
		}
		if (n == nalloc)
		{
			nalloc *= 2;
			oids = repalloc(oids, sizeof(Oid) * nalloc);
		}
		oids[n++] = (Oid) value;
	}
	if (n == 0)
		return true;			/* nothing hidden: extra stays NULL */

	qsort(oids, n, sizeof(Oid), cmp_oid);
	parsed = (PsHiddenIndexes *) ps_guc_malloc(offsetof(PsHiddenIndexes, oids) + sizeof(Oid) * n);
	if (parsed == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	kept = 0;
	for (i = 0; i < n; i++)
		if (kept == 0 || parsed->oids[kept - 1] != oids[i])
			parsed->oids[kept++] = oids[i];
	parsed->noids = kept;
	*extra = parsed;
	return true;
}

static void
assign_hidden_indexes(const char *newval, void *extra)
{
	hidden_indexes = (PsHiddenIndexes *) extra;
}

static void
ps_get_relation_info(PlannerInfo *root, Oid relationObjectId, bool inhparent, RelOptInfo *rel)
{
	PsHiddenIndexes *hidden = hidden_indexes;
	ListCell   *lc;

	if (prev_get_relation_info_hook)
		prev_get_relation_info_hook(root, relationObjectId, inhparent, rel);
	if (!ps_enabled || hidden == NULL)
		return;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = (IndexOptInfo *) lfirst(lc);

		if (bsearch(&index->indexoid, hidden->oids, hidden->noids, sizeof(Oid), cmp_oid) != NULL)
			rel->indexlist = foreach_delete_current(rel->indexlist, lc);
	}
}

void
ps_indexes_init(void)
{
	DefineCustomStringVariable("pilotscope.hidden_indexes",
							   "Indexes (by OID) the planner plans without, as if they did not exist.",
							   "OIDs separated by commas, e.g. '16390, 16402'; '' hides nothing.",
							   &hidden_indexes_string,
							   "",
							   PGC_USERSET,
							   0,
							   check_hidden_indexes, assign_hidden_indexes, NULL);

	prev_get_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = ps_get_relation_info;
}
