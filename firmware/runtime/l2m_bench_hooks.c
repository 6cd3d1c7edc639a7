/* larq2mcu runtime — micro-benchmark hooks for bench/microbench.py (contracts in
 * l2m_kernels_opt.h): each runs one engine's inner loop as compiled for the target, so that its
 * instructions per word can be counted. Not used by generated code. */
#include "l2m_binary_impl.h"
#include "l2m_kernels_opt.h"
#include "l2m_sliced_impl.h"

int32_t l2m_opt_xor_popcount(int32_t mode, const uint32_t *a, const uint32_t *w, int32_t n) {
    switch (mode) {
    case 0: return l2mi_xpc_rows(L2M_MODE_HS, a, 0, w, 1, n, l2mi_masks_make());
    case 1: return l2mi_xpc_rows(L2M_MODE_USAD8, a, 0, w, 1, n, l2mi_masks_make());
    case 2: return l2mi_xpc_rows(L2M_MODE_ZBB, a, 0, w, 1, n, l2mi_masks_make());
    case 3: return l2mi_xpc_rows(L2M_MODE_HW, a, 0, w, 1, n, l2mi_masks_make());
    default: return l2mi_xpc_rows(L2M_MODE_BUILTIN, a, 0, w, 1, n, l2mi_masks_make());
    }
}

void l2m_opt_sliced_dense(int32_t n, const uint32_t *a, const uint32_t *w, const uint32_t *planes, uint32_t *out) {
    l2mi_dense_sliced(L2M_MODE_HS, 1, 32 * n, 32, a, w, NULL, l2m_out_bits_planes(out, planes));
}
