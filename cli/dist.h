/* dist.h — distributed runs of `moescope capture` and `moescope analyze` under mpirun
 * (docs/SCALING.md). In MOESCOPE_MPI builds started by mpirun (or srun), ms_dist_begin()
 * initialises MPI and the helpers below talk to the other ranks; in serial builds, or when the
 * program was not started by an MPI launcher, there is one rank and every helper is a no-op,
 * so commands call them unconditionally.
 *
 * Every collective must be reached by all ranks: commands agree on failures with
 * ms_dist_max_int() before going on. */
#ifndef MS_DIST_H
#define MS_DIST_H

#include <stdint.h>

/* Initialises MPI if this process was started by an MPI launcher (once; MPI_Finalize runs at
 * exit). Returns the number of ranks (1 when not distributed). Ranks other than 0 become
 * quiet (ms_verbosity 0): errors are still printed. */
int ms_dist_begin(void);
int ms_dist_rank(void);
/* 1 when MPI was initialised (launched by mpirun/srun): a forked child is then unsafe. */
int ms_dist_mpi(void);
int ms_dist_size(void);
/* Ranks running on this node (sharing its cores and memory); 1 when not distributed. */
int ms_dist_local_size(void);

/* Reductions in place over all ranks (MPI_Allreduce); n elements, any n >= 0. */
enum { MS_DIST_SUM_I64 = 1, MS_DIST_SUM_F64, MS_DIST_SUM_U32, MS_DIST_MAX_I64 };
int ms_dist_allreduce(void *buf, int64_t n, int kind);
/* Max over ranks of v (v when not distributed): to agree on an exit status. */
int ms_dist_max_int(int v);
/* Broadcast of n int64 from rank root. */
int ms_dist_bcast_i64(int64_t *buf, int64_t n, int root);
void ms_dist_barrier(void);
/* Stops every rank (MPI_Abort) with exit status code; does nothing when not distributed. */
void ms_dist_abort(int code);

/* Contiguous token-balanced partition of n documents (cost[i] tokens each) into parts:
 * part p gets documents [bounds[p], bounds[p+1]); bounds has parts+1 entries, bounds[0] = 0,
 * bounds[parts] = n. Part p starts at the document boundary whose preceding tokens are
 * nearest to p/parts of the total (the earlier one on a tie), so every boundary is within
 * half a document of its ideal place. */
void ms_dist_partition(const int64_t *cost, int64_t n, int parts, int64_t *bounds);

/* The per-rank store of rank r of n next to out: "<out>.rank-<r>-of-<n>" (malloc'ed). */
char *ms_dist_rank_path(const char *out, int r, int n);

/* Concatenates route stores (each a contiguous run of documents, in order) into one new store
 * out, through the serial writer: its datasets equal those of one capture over all the
 * documents. Provenance (model, tokenizer, manifest) comes from the first input; command_line
 * is recorded, and window (capture's --window) when > 0. Prints its own error; returns an exit
 * status (cli.h). Defined in cmd_merge.c. */
int ms_merge_stores(const char *out, const char *const *in, int n_in, const char *command_line,
                    int64_t window);

#endif
