/* larq2mcu runtime — optimized binary conv/dense kernels (contracts in l2m_kernels_opt.h).
 *
 * The engine is l2m_binary_impl.h (always-inline, shared with the layer-specialized functions of
 * generated code); here each variant is one instantiation with the geometry read at run time.
 */
#include "l2m_binary_impl.h"
#include "l2m_kernels_opt.h"
#include "l2m_sliced_impl.h"

#define L2M_OPT_DEFINE(V, MODE)                                                                      \
    void l2m_conv2d_b32_f32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const float *bias, float *out) {                   \
        l2mi_conv2d(MODE, g, pad_one, in, w, NULL, bias, NULL, out);                                   \
    }                                                                                                \
    void l2m_conv2d_b32_b32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const int32_t *thr, uint32_t *out) {               \
        l2mi_conv2d(MODE, g, pad_one, in, w, thr, NULL, out, NULL);                                    \
    }                                                                                                \
    void l2m_dense_b32_f32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const float *bias, float *out) {                    \
        l2mi_dense(MODE, groups, c, out_n, in, w, NULL, bias, NULL, out);                            \
    }                                                                                                \
    void l2m_dense_b32_b32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const int32_t *thr, uint32_t *out) {                \
        l2mi_dense(MODE, groups, c, out_n, in, w, thr, NULL, out, NULL);                             \
    }

L2M_OPT_DEFINE(hs, L2M_MODE_HS)
L2M_OPT_DEFINE(clz, L2M_MODE_HS)
L2M_OPT_DEFINE(usad8, L2M_MODE_USAD8)
L2M_OPT_DEFINE(zbb, L2M_MODE_ZBB)
L2M_OPT_DEFINE(hw, L2M_MODE_HW)
L2M_OPT_DEFINE(builtin, L2M_MODE_BUILTIN)

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
    l2mi_dense_sliced(L2M_MODE_HS, 1, 32 * n, 32, a, w, planes, out, NULL, NULL, NULL);
}
