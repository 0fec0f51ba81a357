# Declarations for the compiled kernel: what it takes from numpy's random C library, and the
# C structs it works on. Compiler directives are set in one place, setup.py.
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

cdef extern from "numpy/random/distributions.h":
    # numpy's own generators (libnpyrandom): the same algorithms, hence the same numbers,
    # as Generator.standard_normal / .random / .standard_gamma on the same BitGenerator.
    double random_standard_gamma(bitgen_t *bitgen_state, double shape) nogil

cdef extern from "_pcg64.h":
    # numpy's PCG64, inline (simcore/_pcg64.h): each path's own position in its block's streams
    ctypedef struct simrisk_pcg64:
        pass
    ctypedef unsigned long long simrisk_u128   # (a 128-bit integer in C; only passed along here)
    void simrisk_pcg64_path_jump(const simrisk_pcg64 *block, simrisk_u128 *a_out,
                                 simrisk_u128 *c_out) nogil
    void simrisk_pcg64_next_path(simrisk_pcg64 *next, simrisk_u128 a, simrisk_u128 c,
                                 simrisk_pcg64 *out) nogil
    double simrisk_pcg64_double(simrisk_pcg64 *r) nogil
    void simrisk_pcg64_seed(simrisk_pcg64 *r, uint64_t state_hi, uint64_t state_lo,
                            uint64_t inc_hi, uint64_t inc_lo) nogil
    void simrisk_pcg64_bitgen(simrisk_pcg64 *r, bitgen_t *bg) nogil
    # draws taken only where used (see the header)
    simrisk_u128 simrisk_pcg64_get_state(const simrisk_pcg64 *r) nogil
    void simrisk_pcg64_steps(const simrisk_pcg64 *r, uint64_t k, simrisk_u128 *a,
                             simrisk_u128 *c) nogil
    void simrisk_pcg64_affine(simrisk_pcg64 *r, simrisk_u128 a, simrisk_u128 c) nogil
    double simrisk_pcg64_double_from(simrisk_u128 s0, simrisk_u128 a, simrisk_u128 c) nogil

cdef extern from "_ziggurat.h":
    # numpy's ziggurat for standard normals, inline (simcore/_ziggurat.h): the stream of
    # Generator.standard_normal, number for number, on the same BitGenerator.
    # counts: NULL, or int64[4] tallies of the slow paths (see the header).
    enum: SIMRISK_ZIG_NCOUNTS
    void simrisk_standard_normal_fill(bitgen_t *bg, Py_ssize_t cnt, double *out,
                                      int64_t *counts) nogil
    double simrisk_standard_normal_pcg(simrisk_pcg64 *pcg, bitgen_t *bg, int64_t *counts) nogil


cdef struct PlanC:
    # read-only view of simcore._plan.Plan (see that module for meanings and shapes)
    int n_days
    int spd
    int M
    int K
    int G
    double dt
    double capital
    const double *logp0
    const double *mu
    const double *sigma
    const double *chol          # [2, G, M, M]
    const double *volmult       # [2, G]
    const double *trans_cum     # [G, G]
    int regime0
    int win_lo
    int win_hi
    double student_nu
    const double *gap_p
    const double *gap_mu
    const double *gap_sd
    int gap_common
    const int32_t *dir_mode
    const int32_t *stop_kind
    const double *stop_val
    const int32_t *target_kind
    const double *target_val
    const double *alpha
    const int32_t *max_hold
    const int32_t *cooldown
    const double *pv
    const double *tick
    const double *im
    const double *mm
    const double *comm
    const double *tier_thr
    const double *tier_buf
    const double *tier_reach
    const int32_t *tier_contract  # [K, M]
    const int32_t *tier_max       # [K, M]
    double risk_per_trade
    double margin_cap
    double slip_ticks
    double ruin_level
    double ruin_dd
    int corr_action             # 0 off, 1 scale_risk, 2 one_per_pair
    int corr_every
    int corr_window
    double corr_limit
    double corr_scale
    int hist_mode               # 0 off, 1 replay, 2 bootstrap (SPEC 11)
    Py_ssize_t hist_n           # pool dates N
    Py_ssize_t hist_nstart      # start dates
    Py_ssize_t hist_first       # replay: the run's index of the block's first path
    double hist_block           # bootstrap: mean block length L
    int hist_scale              # 0 plan, 1 actual
    int hist_order              # 0 bridge, 1 stop_first
    const double *hist_lrel     # [N, M, 4] ln(O, H, L, C / previous close)
    const double *hist_tr       # [N, M] true range / previous close
    const double *hist_atr      # [N, M] ATR(14) before the date / previous close
    const double *hist_pvar     # [N, M] ln(H/L)^2 / (4 ln 2)
    const double *hist_lc0      # [N, M] ln previous close


cdef struct OutC:
    # caller-owned outputs (simcore._plan.BlockOutput)
    int8_t *ruined
    int32_t *ruin_day
    int32_t *stop_day          # the day a path stopped early (ruin, blown, void), -1 none
    int8_t *blown
    int32_t *margin_calls
    int32_t *trades
    int32_t *wins
    int32_t *skipped
    double *final_equity
    double *peak_equity
    double *max_dd
    int8_t *nonfinite
    int32_t *tier_day          # [n, K]
    int64_t *m_trades
    int64_t *m_wins
    double *m_win_r
    int64_t *m_win_rn
    double *m_loss_r
    int64_t *m_loss_rn
    int64_t *m_skip            # [M, 3]
    int64_t *m_gap_fills
    int64_t *m_beyond_1r
    int64_t *regime_days
    int64_t *regime_spells
    int64_t *m_corr_skip
    int64_t *m_corr_reduced
    int32_t *corr_reviews
    int32_t *corr_flagged
    int32_t *corr_days
    double *equity             # [n, n_days + 1] or NULL
