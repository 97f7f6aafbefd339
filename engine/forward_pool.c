/* forward_pool.c — the engine's worker pool: a fixed set of pthreads that run the tasks of one
 * parallel step (tiles of a matrix product, attention heads) and sleep between steps.
 *
 * Tasks are handed out through an atomic counter, so which thread runs which task varies from
 * run to run; every task writes its own disjoint output, so results never depend on it. The
 * caller takes part as thread 0; with one thread nothing is spawned. */
#include "forward_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct ms_pool {
    int n_threads;
    pthread_t *threads; /* [n_threads - 1] workers (thread ids 1..n_threads-1) */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation; /* bumped for each step; workers wait for a new one */
    int running;         /* workers still inside the current step */
    int quit;
    ms_pool_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next;
};

typedef struct worker_arg {
    ms_pool *p;
    int id;
} worker_arg;

static void pool_drain(ms_pool *p, int thread) {
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static void *pool_worker(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    ms_pool *p = a.p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        pool_drain(p, a.id);
        pthread_mutex_lock(&p->mu);
        if (--p->running == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ms_pool_create(ms_pool **out, int n_threads) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    ms_pool *p = calloc(1, sizeof *p);
    if (!p) return MS_ERR_RUNTIME;
    p->n_threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            ms_pool_free(p);
            return MS_ERR_RUNTIME;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *a = malloc(sizeof *a);
            if (!a) break;
            a->p = p;
            a->id = i;
            if (pthread_create(&p->threads[i - 1], NULL, pool_worker, a) != 0) {
                free(a);
                break;
            }
            p->n_threads++;
        }
        if (p->n_threads != n_threads) {
            ms_pool_free(p);
            return MS_ERR_RUNTIME;
        }
    }
    *out = p;
    return 0;
}

void ms_pool_free(ms_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i - 1], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int ms_pool_threads(const ms_pool *p) {
    return p->n_threads;
}

void ms_pool_run(ms_pool *p, ms_pool_fn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->running = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    pool_drain(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
