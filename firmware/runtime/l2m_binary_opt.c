/* larq2mcu runtime — optimized binary conv/dense kernels (contracts in l2m_kernels_opt.h).
 *
 * The engine is l2m_binary_impl.h (always-inline, shared with the layer-specialized functions of
 * generated code); here each variant is one instantiation with the geometry read at run time.
 */
#include "l2m_binary_impl.h"
#include "l2m_kernels_opt.h"

#define L2M_OPT_DEFINE(V, MODE)                                                                      \
    void l2m_conv2d_b32_f32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const float *bias, float *out) {                   \
        l2mi_conv2d(MODE, g, pad_one, in, w, l2m_out_float(out, bias));                                \
    }                                                                                                \
    void l2m_conv2d_b32_b32_##V(const l2m_geom *g, int32_t pad_one, const uint32_t *in,               \
                                const uint32_t *w, const int32_t *thr, uint32_t *out) {               \
        l2mi_conv2d(MODE, g, pad_one, in, w, l2m_out_bits(out, thr));                                  \
    }                                                                                                \
    void l2m_dense_b32_f32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const float *bias, float *out) {                    \
        l2mi_dense(MODE, groups, c, out_n, in, w, l2m_out_float(out, bias));                         \
    }                                                                                                \
    void l2m_dense_b32_b32_##V(int32_t groups, int32_t c, int32_t out_n, const uint32_t *in,         \
                               const uint32_t *w, const int32_t *thr, uint32_t *out) {                \
        l2mi_dense(MODE, groups, c, out_n, in, w, l2m_out_bits(out, thr));                           \
    }

L2M_OPT_DEFINE(hs, L2M_MODE_HS)
L2M_OPT_DEFINE(clz, L2M_MODE_HS)
L2M_OPT_DEFINE(usad8, L2M_MODE_USAD8)
L2M_OPT_DEFINE(zbb, L2M_MODE_ZBB)
L2M_OPT_DEFINE(hw, L2M_MODE_HW)
L2M_OPT_DEFINE(builtin, L2M_MODE_BUILTIN)
