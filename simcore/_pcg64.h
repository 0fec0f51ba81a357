/*
 * simcore/_pcg64.h -- numpy's PCG64 bit generator, inline, for one path's own streams.
 *
 * The kernel gives every path its own position in each of its block's PCG64 streams: path p
 * draws from the block's stream advanced by p * 2^64 draws (numpy's PCG64.advance(p << 64)).
 * So a path's random numbers are a fixed function of (seed, block, path, purpose, step),
 * whatever other paths do, and a path can be simulated from its first step to its last
 * before the next one starts (its state stays in the first-level cache).
 *
 * The generator is numpy's PCG64 (numpy/random/src/pcg64/pcg64.h: the 128-bit LCG with
 * PCG's default multiplier, XSL-RR output of the state after each step, next_double as
 * (next64 >> 11) * 2^-53, next32 halves of a buffered next64), so the numbers are the very
 * numbers numpy.random.Generator(PCG64) gives on the same state; tests/test_streams.py
 * compares them. A path's state is read from the block's BitGenerator through its public
 * `state` property, never from numpy's private structures.
 *
 * The algorithm is PCG64 by Melissa O'Neill (Apache-2.0 / MIT), as implemented in NumPy
 * (BSD-3-Clause); reimplemented here for inlining.
 */
#ifndef SIMCORE_PCG64_H
#define SIMCORE_PCG64_H

#include <stdint.h>
#include "numpy/random/bitgen.h"

#if !defined(__SIZEOF_INT128__)
#error "simrisk's kernel needs a compiler with 128-bit integers (gcc, clang)"
#endif

typedef __uint128_t simrisk_u128;

#define SIMRISK_PCG_MULT ((((simrisk_u128)2549297995355413924ULL) << 64) | \
                          (simrisk_u128)4865540595714422341ULL)

typedef struct {
    simrisk_u128 state;
    simrisk_u128 inc;
    int has_uint32;
    uint32_t uinteger;
} simrisk_pcg64;

static inline uint64_t simrisk_pcg64_next64(simrisk_pcg64 *r)
{
    simrisk_u128 s = r->state * SIMRISK_PCG_MULT + r->inc;
    uint64_t v = ((uint64_t)(s >> 64)) ^ (uint64_t)s;
    unsigned rot = (unsigned)(s >> 122);
    r->state = s;
    return (v >> rot) | (v << ((-rot) & 63));
}

static inline double simrisk_pcg64_double(simrisk_pcg64 *r)
{
    return (double)(simrisk_pcg64_next64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline uint32_t simrisk_pcg64_next32(simrisk_pcg64 *r)
{
    uint64_t next;
    if (r->has_uint32) {
        r->has_uint32 = 0;
        return r->uinteger;
    }
    next = simrisk_pcg64_next64(r);
    r->has_uint32 = 1;
    r->uinteger = (uint32_t)(next >> 32);
    return (uint32_t)(next & 0xffffffffULL);
}

/* The LCG's jump by `delta` steps as an affine map s -> a s + c (Brown, "Random number
 * generation with arbitrary strides", 1994; numpy's pcg_advance_lcg_128). */
static inline void simrisk_pcg64_jump(simrisk_u128 delta, simrisk_u128 inc,
                                      simrisk_u128 *a_out, simrisk_u128 *c_out)
{
    simrisk_u128 cur_mult = SIMRISK_PCG_MULT, cur_plus = inc;
    simrisk_u128 acc_mult = 1, acc_plus = 0;
    while (delta > 0) {
        if (delta & 1) {
            acc_mult *= cur_mult;
            acc_plus = acc_plus * cur_mult + cur_plus;
        }
        cur_plus = (cur_mult + 1) * cur_plus;
        cur_mult *= cur_mult;
        delta >>= 1;
    }
    *a_out = acc_mult;
    *c_out = acc_plus;
}

static inline void simrisk_pcg64_seed(simrisk_pcg64 *r, uint64_t state_hi, uint64_t state_lo,
                                      uint64_t inc_hi, uint64_t inc_lo)
{
    r->state = (((simrisk_u128)state_hi) << 64) | state_lo;
    r->inc = (((simrisk_u128)inc_hi) << 64) | inc_lo;
    r->has_uint32 = 0;
    r->uinteger = 0;
}

/* The jump from one path's stream to the next: 2^64 draws (PCG64.advance(1 << 64)). */
static inline void simrisk_pcg64_path_jump(const simrisk_pcg64 *block, simrisk_u128 *a,
                                           simrisk_u128 *c)
{
    simrisk_pcg64_jump(((simrisk_u128)1) << 64, block->inc, a, c);
}

/* The streams of paths 0, 1, 2, ... in turn: `next` starts as the block's stream; each call
 * gives the current path's stream in *out and moves `next` on by 2^64 draws, with the jump's
 * affine map (a, c) computed once per block by simrisk_pcg64_path_jump. Path p's stream is
 * thus the block's advanced by p * 2^64 draws (PCG64.advance(p << 64)). */
static inline void simrisk_pcg64_next_path(simrisk_pcg64 *next, simrisk_u128 a, simrisk_u128 c,
                                           simrisk_pcg64 *out)
{
    *out = *next;
    next->state = a * next->state + c;
}

/* A bitgen_t over a simrisk_pcg64, for numpy's C samplers (random_standard_gamma) and the
 * ziggurat's slow paths. */
static uint64_t simrisk_pcg64_bg_next64(void *st) { return simrisk_pcg64_next64((simrisk_pcg64 *)st); }
static uint32_t simrisk_pcg64_bg_next32(void *st) { return simrisk_pcg64_next32((simrisk_pcg64 *)st); }
static double simrisk_pcg64_bg_double(void *st) { return simrisk_pcg64_double((simrisk_pcg64 *)st); }

static inline void simrisk_pcg64_bitgen(simrisk_pcg64 *r, bitgen_t *bg)
{
    bg->state = (void *)r;
    bg->next_uint64 = simrisk_pcg64_bg_next64;
    bg->next_uint32 = simrisk_pcg64_bg_next32;
    bg->next_double = simrisk_pcg64_bg_double;
    bg->next_raw = simrisk_pcg64_bg_next64;
}

/* Draws taken only where used. A step draws a fixed count k of numbers from a stream (one
   per market), whether or not each is used; the kernel keeps the stream's state s0 at the
   step's start, moves the stream on by k in one affine map, and computes the i-th number
   (i = 1 .. k) only where it is needed, from s0 and the jump by i: the same numbers as drawing
   them in turn. */
static inline simrisk_u128 simrisk_pcg64_get_state(const simrisk_pcg64 *r)
{
    return r->state;
}

/* (a, c) of the jump by k draws of stream r (its increment; the state is not used) */
static inline void simrisk_pcg64_steps(const simrisk_pcg64 *r, uint64_t k, simrisk_u128 *a,
                                       simrisk_u128 *c)
{
    simrisk_pcg64_jump((simrisk_u128)k, r->inc, a, c);
}

static inline void simrisk_pcg64_affine(simrisk_pcg64 *r, simrisk_u128 a, simrisk_u128 c)
{
    r->state = a * r->state + c;
}

/* the double simrisk_pcg64_double returns as the i-th draw after state s0, (a, c) the jump by i */
static inline double simrisk_pcg64_double_from(simrisk_u128 s0, simrisk_u128 a, simrisk_u128 c)
{
    simrisk_u128 s = a * s0 + c;
    uint64_t v = ((uint64_t)(s >> 64)) ^ (uint64_t)s;
    unsigned rot = (unsigned)(s >> 122);
    uint64_t x = (v >> rot) | (v << ((-rot) & 63));
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

#endif /* SIMCORE_PCG64_H */
