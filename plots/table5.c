/* table5.c — the Mixtral paper's published repetition numbers, for side-by-side comparison
 * in reports and docs.
 *
 * Source: A. Q. Jiang et al., "Mixtral of Experts", arXiv:2401.04088 (2024), Table 5
 * "Percentage of expert assignment repetitions", copied from /work/shared/DESIGN.md. Values
 * are percent of consecutive tokens (The Pile validation split) whose first choice repeats,
 * and whose first or second choice repeats, at layers 0, 15 and 31 of Mixtral 8x7B. Random
 * baselines: 12.5% and 46.4%. */
#include "plots.h"

const ms_table5_row ms_mixtral_table5[8] = {
    {"ArXiv", {14.0, 27.9, 22.7}, {46.5, 62.3, 52.9}},
    {"DM Mathematics", {14.1, 28.4, 19.7}, {44.9, 67.0, 44.5}},
    {"Github", {14.9, 28.1, 19.7}, {49.9, 66.9, 49.2}},
    {"Gutenberg", {13.9, 26.1, 26.3}, {49.5, 63.1, 52.2}},
    {"PhilPapers", {13.6, 25.3, 22.1}, {46.9, 61.9, 51.3}},
    {"PubMed Abstracts", {14.2, 24.6, 22.0}, {48.6, 61.6, 51.8}},
    {"StackExchange", {13.6, 27.2, 23.6}, {48.2, 64.6, 53.6}},
    {"Wikipedia (en)", {14.4, 23.6, 25.3}, {49.8, 62.1, 51.8}},
};
