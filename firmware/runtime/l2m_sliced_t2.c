/* larq2mcu runtime — the counting loop of the bit-sliced engine (l2m_sliced_impl.h), compiled
 * once rather than inlined into every layer (it has no layer constant worth unrolling for, and it
 * is several kilobytes):
 *   - on Armv7-M / Armv8-M mainline (Thumb-2 with clz; not with -DL2M_NO_ASM) the hand-scheduled
 *     assembly l2m_sliced_count_t2;
 *   - elsewhere l2m_sliced_count_c, the C loop l2mi_sl_count.
 * Both have the contract of l2mi_sl_count: count n8 (a multiple of 8, > 0) selected rows of the
 * generator *s (not modified: the loops work on a copy) into the m >= 5 counter planes v
 * (L2MI_SL_MAX_M words at most, 4-byte aligned, not overlapping *s or the rows it reads); every
 * row it reads lies in the window copy with its sentinel and the block's rows (l2m_sliced_impl.h).
 * Stack: 28 bytes of frame plus nine saved registers (Thumb-2); the C loop a few words. The two are
 * tested bit-identical under QEMU (tests/test_sliced_qemu.py).
 */
#include <stdint.h>

#include "l2m_sliced_impl.h"

#if !L2MI_SL_ASM
void l2m_sliced_count_c(const l2mi_sl_gen *s, int32_t n8, uint32_t *v, int32_t m) {
    l2mi_sl_gen g = *s;   /* a local copy: v's stores cannot alias the generator state */
    l2mi_sl_count(&g, n8, v, m);
}
#else
/* l2mi_sl_count (l2m_sliced_impl.h) for Thumb-2, with the same adders as the C loop. Registers: r0 =
 * bits left in the current word (never 0 between rows), r1 = its rows, r2 = the next word, r3 =
 * 0x80000000; r4-r7 = planes 0-3 (ones, twos, fours, eights); r8/r9 the two rows of a pair and
 * scratch; r10-r12 carries waiting for their partner; lr scratch. Frame: [sp] v, [sp+4] &v[4],
 * [sp+8] &v[m], [sp+12] rows left, [sp+16..24] weight-16 carries of a 64-row step. A word is
 * refilled inline (the window copy ends with a sentinel: no bounds test). */
#define L2MI_T2_NEXT(X)                      \
    "clz   lr, r0\n\t"                       \
    "ldr   " X ", [r1, lr, lsl #2]\n\t"      \
    "lsr   lr, r3, lr\n\t"                   \
    "eors  r0, r0, lr\n\t"                   \
    "bne   1f\n"                             \
    "0:\n\t"                                 \
    "ldr   r0, [r2], #4\n\t"                 \
    "add   r1, r1, #128\n\t"                 \
    "cmp   r0, #0\n\t"                       \
    "beq   0b\n"                             \
    "1:\n\t"
/* two rows into ones (r4); the carry word to OUT */
#define L2MI_T2_PAIR(OUT)                    \
    L2MI_T2_NEXT("r8") L2MI_T2_NEXT("r9")    \
    "eor   lr, r8, r9\n\t"                   \
    "and   r8, r8, r9\n\t"                   \
    "and   r9, lr, r4\n\t"                   \
    "eor   r4, r4, lr\n\t"                   \
    "orr   " OUT ", r8, r9\n\t"
/* carry-save adder of plane P with A and B; the carry word to OUT (may be A); scratch r8, r9 */
#define L2MI_T2_CSA(P, A, B, OUT)            \
    "eor   r8, " A ", " B "\n\t"             \
    "and   " A ", " A ", " B "\n\t"          \
    "and   r9, r8, " P "\n\t"                \
    "eor   " P ", " P ", r8\n\t"             \
    "orr   " OUT ", " A ", r9\n\t"
/* eight rows: the weight-8 carry word to OUT */
#define L2MI_T2_EIGHT(OUT)                   \
    L2MI_T2_PAIR("r10") L2MI_T2_PAIR("lr")   \
    L2MI_T2_CSA("r5", "r10", "lr", "r11")    \
    L2MI_T2_PAIR("r10") L2MI_T2_PAIR("lr")   \
    L2MI_T2_CSA("r5", "r10", "lr", "r10")    \
    L2MI_T2_CSA("r6", "r11", "r10", OUT)
/* sixteen rows: the weight-16 carry word to r8 */
#define L2MI_T2_SIXTEEN                      \
    L2MI_T2_EIGHT("r12") L2MI_T2_EIGHT("r11") \
    "eor   r9, r12, r11\n\t"                 \
    "and   r12, r12, r11\n\t"                \
    "and   r10, r9, r7\n\t"                  \
    "eor   r7, r7, r9\n\t"                   \
    "orr   r8, r12, r10\n\t"
/* carry-save adder of r10 (a plane) with A and B, scratch r9; the carry word to OUT */
#define L2MI_T2_CSA10(A, B, OUT)             \
    "eor   r9, " A ", " B "\n\t"             \
    "and   " A ", " A ", " B "\n\t"          \
    "and   " B ", r9, r10\n\t"               \
    "eor   r10, r10, r9\n\t"                 \
    "orr   " OUT ", " A ", " B "\n\t"
/* the carry word r8 into planes from lr up to (not including) r9: half adders until it is 0 */
#define L2MI_T2_RIPPLE(L)                    \
    "cmp   r8, #0\n\t"                       \
    "beq   " L "f\n"                         \
    "4:\n\t"                                 \
    "ldr   r10, [lr]\n\t"                    \
    "and   r11, r10, r8\n\t"                 \
    "eor   r10, r10, r8\n\t"                 \
    "str   r10, [lr], #4\n\t"                \
    "movs  r8, r11\n\t"                      \
    "beq   " L "f\n\t"                       \
    "cmp   lr, r9\n\t"                       \
    "bne   4b\n"

#define L2MI_UNUSED __attribute__((unused))
__attribute__((naked, noinline)) void l2m_sliced_count_t2(L2MI_UNUSED const l2mi_sl_gen *s, L2MI_UNUSED int32_t n8,
                                                         L2MI_UNUSED uint32_t *v, L2MI_UNUSED int32_t m) {
    __asm__ volatile(
        "push  {r4-r11, lr}\n\t"
        "sub   sp, sp, #28\n\t"
        "str   r2, [sp]\n\t"
        "add   r12, r2, #16\n\t"
        "str   r12, [sp, #4]\n\t"
        "add   r12, r2, r3, lsl #2\n\t"
        "str   r12, [sp, #8]\n\t"
        "str   r1, [sp, #12]\n\t"
        "ldm   r2, {r4, r5, r6, r7}\n\t"
        "ldr   r1, [r0, #4]\n\t"
        "ldr   r2, [r0, #8]\n\t"
        "ldr   r0, [r0]\n\t"
        "mov   r3, #0x80000000\n\t"
        /* 64 rows at a time */
        "ldr   r9, [sp, #12]\n\t"
        "cmp   r9, #64\n\t"
        "blt   6f\n"
        "7:\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #16]\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #20]\n\t"
        L2MI_T2_SIXTEEN
        "str   r8, [sp, #24]\n\t"
        L2MI_T2_SIXTEEN
        /* planes 4, 5 += the four weight-16 carries (s0..s2 on the stack, s3 in r8) */
        "ldr   lr, [sp, #4]\n\t"
        "ldr   r10, [lr]\n\t"
        "ldrd  r11, r12, [sp, #16]\n\t"
        L2MI_T2_CSA10("r11", "r12", "r11")
        "ldr   r12, [sp, #24]\n\t"
        L2MI_T2_CSA10("r12", "r8", "r12")
        "str   r10, [lr], #4\n\t"
        "ldr   r10, [lr]\n\t"
        L2MI_T2_CSA10("r11", "r12", "r8")
        "str   r10, [lr], #4\n\t"
        "ldr   r9, [sp, #8]\n\t"
        L2MI_T2_RIPPLE("5")
        "5:\n\t"
        "ldr   r9, [sp, #12]\n\t"
        "subs  r9, r9, #64\n\t"
        "str   r9, [sp, #12]\n\t"
        "cmp   r9, #64\n\t"
        "bge   7b\n"
        /* 16 rows at a time */
        "6:\n\t"
        "cmp   r9, #16\n\t"
        "blt   3f\n"
        "2:\n\t"
        L2MI_T2_SIXTEEN
        "ldrd  lr, r9, [sp, #4]\n\t"
        L2MI_T2_RIPPLE("5")
        "5:\n\t"
        "ldr   r9, [sp, #12]\n\t"
        "subs  r9, r9, #16\n\t"
        "str   r9, [sp, #12]\n\t"
        "cmp   r9, #16\n\t"
        "bge   2b\n"
        /* 8 rows */
        "3:\n\t"
        "cmp   r9, #0\n\t"
        "beq   8f\n\t"
        L2MI_T2_EIGHT("r12")
        "and   r8, r7, r12\n\t"
        "eor   r7, r7, r12\n\t"
        "ldrd  lr, r9, [sp, #4]\n\t"
        L2MI_T2_RIPPLE("8")
        "8:\n\t"
        "ldr   r12, [sp]\n\t"
        "stm   r12, {r4, r5, r6, r7}\n\t"
        "add   sp, sp, #28\n\t"
        "pop   {r4-r11, pc}\n");
}
#endif
