/* dist.c — the MPI side of distributed capture and analysis (dist.h): start-up when launched by
 * mpirun/srun, reductions and broadcasts in chunks that fit MPI's int counts, the
 * token-balanced document partition and per-rank store names. Compiled into every build; MPI
 * is used only with MOESCOPE_MPI, otherwise there is exactly one rank. */
#include "dist.h"
#include "cli.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MOESCOPE_MPI
#include <mpi.h>
#endif

#ifndef MS_ERR_INPUT
#define MS_ERR_INPUT   2
#define MS_ERR_RUNTIME 1
#endif

static int g_rank = 0, g_size = 1;

#ifdef MOESCOPE_MPI
static int g_mpi;

static void finalize_at_exit(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

/* Set by Open MPI's mpirun, by MPICH/Hydra and by Slurm's srun (PMI/PMIx). */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#endif

int ms_dist_begin(void) {
#ifdef MOESCOPE_MPI
    if (g_mpi || !launched_by_mpi()) return g_size;
    int provided = 0;
    /* Only the main thread calls MPI; the engine's worker threads never do. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return 1;
    g_mpi = 1;
    atexit(finalize_at_exit);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (g_rank != 0) ms_verbosity = 0;
#endif
    return g_size;
}

int ms_dist_mpi(void) {
#ifdef MOESCOPE_MPI
    return g_mpi;
#else
    return 0;
#endif
}

int ms_dist_rank(void) {
    return g_rank;
}

int ms_dist_size(void) {
    return g_size;
}

int ms_dist_local_size(void) {
    int n = 1;
#ifdef MOESCOPE_MPI
    if (g_size > 1) {
        MPI_Comm node;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
            MPI_SUCCESS)
            return 1;
        MPI_Comm_size(node, &n);
        MPI_Comm_free(&node);
    }
#endif
    return n > 0 ? n : 1;
}

int ms_dist_allreduce(void *buf, int64_t n, int kind) {
    if (g_size <= 1 || n <= 0) return 0;
#ifdef MOESCOPE_MPI
    MPI_Datatype t;
    MPI_Op op = MPI_SUM;
    size_t el;
    switch (kind) {
    case MS_DIST_SUM_I64:
        t = MPI_INT64_T, el = 8;
        break;
    case MS_DIST_MAX_I64:
        t = MPI_INT64_T, el = 8, op = MPI_MAX;
        break;
    case MS_DIST_SUM_F64:
        t = MPI_DOUBLE, el = 8;
        break;
    case MS_DIST_SUM_U32:
        t = MPI_UINT32_T, el = 4;
        break;
    default:
        return MS_ERR_INPUT;
    }
    const int64_t step = 1 << 26; /* elements per call: well inside MPI's int counts */
    for (int64_t i = 0; i < n; i += step) {
        int c = (int)(n - i < step ? n - i : step);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)i * el, c, t, op, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return MS_ERR_RUNTIME;
    }
#else
    (void)buf, (void)kind;
#endif
    return 0;
}

int ms_dist_max_int(int v) {
    int64_t x = v;
    if (ms_dist_allreduce(&x, 1, MS_DIST_MAX_I64)) return v ? v : MS_EXIT_RUNTIME;
    return (int)x;
}

int ms_dist_bcast_i64(int64_t *buf, int64_t n, int root) {
    if (g_size <= 1 || n <= 0) return 0;
#ifdef MOESCOPE_MPI
    const int64_t step = 1 << 26;
    for (int64_t i = 0; i < n; i += step) {
        int c = (int)(n - i < step ? n - i : step);
        if (MPI_Bcast(buf + i, c, MPI_INT64_T, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return MS_ERR_RUNTIME;
    }
#else
    (void)buf, (void)root;
#endif
    return 0;
}

void ms_dist_barrier(void) {
#ifdef MOESCOPE_MPI
    if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void ms_dist_abort(int code) {
#ifdef MOESCOPE_MPI
    if (g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
#endif
}

void ms_dist_partition(const int64_t *cost, int64_t n, int parts, int64_t *bounds) {
    assert(parts >= 1 && n >= 0);
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += cost[i] > 0 ? cost[i] : 0;
    /* bounds[p] = the document boundary whose preceding tokens are nearest to p/parts of the
     * total (the earlier one on a tie), compared as tokens * parts against p * total; token
     * counts are far below 2^63 / parts, so the products cannot overflow. */
    int64_t before = 0, i = 0;
    bounds[0] = 0;
    for (int p = 1; p < parts; p++) {
        const int64_t target = (int64_t)p * total;
        while (i < n && (before + (cost[i] > 0 ? cost[i] : 0)) * parts <= target) {
            before += cost[i] > 0 ? cost[i] : 0;
            i++;
        }
        if (i < n) { /* the next boundary overshoots the target: take it if it is nearer */
            int64_t next = before + (cost[i] > 0 ? cost[i] : 0);
            if (next * parts - target < target - before * parts) before = next, i++;
        }
        bounds[p] = i;
    }
    bounds[parts] = n;
}

char *ms_dist_rank_path(const char *out, int r, int n) {
    size_t len = strlen(out) + 48;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s.rank-%d-of-%d", out, r, n);
    return s;
}
