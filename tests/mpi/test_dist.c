/* test_dist.c — the token-balanced document partition of distributed runs (cli/dist.h) against
 * hand-computed boundaries, and the helpers' one-rank behaviour (every build). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect(const char *name, const int64_t *cost, int64_t n, int parts,
                   const int64_t *want) {
    int64_t got[16];
    ms_dist_partition(cost, n, parts, got);
    if (memcmp(got, want, sizeof *want * (size_t)(parts + 1)) != 0) {
        printf("FAIL %s: got", name);
        for (int p = 0; p <= parts; p++)
            printf(" %lld", (long long)got[p]);
        printf(", want");
        for (int p = 0; p <= parts; p++)
            printf(" %lld", (long long)want[p]);
        printf("\n");
        failures++;
    }
}

int main(void) {
    /* Boundary p: the one whose preceding tokens are nearest to p * T / parts (earlier on ties). */
    const int64_t even[] = {5, 5, 5, 5};
    expect("even/2", even, 4, 2, (const int64_t[]){0, 2, 4});
    expect("even/3", even, 4, 3, (const int64_t[]){0, 1, 3, 4}); /* 6.7: 5 not 10; 13.3: 15 */
    expect("even/1", even, 4, 1, (const int64_t[]){0, 4});
    const int64_t heavy[] = {10, 1, 1, 1, 1}; /* T = 14: the long document alone is half */
    expect("heavy/2", heavy, 5, 2, (const int64_t[]){0, 1, 5});
    const int64_t tail[] = {1, 1, 1, 1, 10}; /* target 7: 4 is nearer than 14 */
    expect("tail/2", tail, 5, 2, (const int64_t[]){0, 4, 5});
    const int64_t zeros[] = {0, 3, 0, 3}; /* an empty document before a boundary stays before */
    expect("zeros/2", zeros, 4, 2, (const int64_t[]){0, 3, 4});
    /* {5, 5} in 4: targets 2.5 (0 and 5 tie: 0), 5 (exact), 7.5 (5 and 10 tie: 5) */
    expect("more parts than documents", even, 2, 4, (const int64_t[]){0, 0, 1, 1, 2});
    expect("no documents", even, 0, 3, (const int64_t[]){0, 0, 0, 0});
    const int64_t none[] = {0, 0, 0};
    expect("no tokens", none, 3, 2, (const int64_t[]){0, 3, 3});

    /* Without mpirun there is one rank and the collectives change nothing. */
    if (ms_dist_begin() != 1 || ms_dist_rank() != 0 || ms_dist_size() != 1 ||
        ms_dist_local_size() != 1) {
        printf("FAIL: not one rank outside mpirun\n");
        failures++;
    }
    int64_t v[2] = {3, -4};
    if (ms_dist_allreduce(v, 2, MS_DIST_SUM_I64) || v[0] != 3 || v[1] != -4 ||
        ms_dist_max_int(7) != 7) {
        printf("FAIL: one-rank reductions\n");
        failures++;
    }
    char *p = ms_dist_rank_path("out/routes.h5", 2, 3);
    if (!p || strcmp(p, "out/routes.h5.rank-2-of-3") != 0) {
        printf("FAIL: rank path %s\n", p ? p : "(null)");
        failures++;
    }
    free(p);
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
