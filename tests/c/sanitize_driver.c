/* Test driver for an exported larq2mcu model, built with sanitizers by tests/test_hardening.py.
 *
 * Build: cc -std=c99 -DL2M_MODEL=<name> -DL2M_MODEL_UC=<NAME> -DL2M_MODEL_HEADER='"<name>.h"'
 *        -I <export dir> sanitize_driver.c <every .c of the export>
 * Run:   driver <input.bin> <output.bin>
 *   input.bin:  N samples of <NAME>_INPUT_LEN float32 (native byte order), back to back;
 *   output.bin: N outputs of <NAME>_OUTPUT_LEN float32.
 *
 * Every buffer handed to the model is malloc'd with its exact size (input, output, arena of
 * <NAME>_ARENA_SIZE bytes), so AddressSanitizer reports any access outside them, i.e. an arena
 * plan or a kernel that overruns. The arena is filled with a different garbage byte before each
 * inference: outputs that still equal the host's prove the model never reads arena bytes it did
 * not write in the same inference. The status codes of the API are checked on the way.
 * Exit status: 0 success; 2 usage or I/O error; 3 a status code differs from the contract.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include L2M_MODEL_HEADER

#define L2M_CAT_(a, b) a##b
#define L2M_CAT(a, b) L2M_CAT_(a, b)
#define MODEL_INVOKE L2M_CAT(L2M_MODEL, _invoke)
#define MODEL_PARTIAL L2M_CAT(L2M_MODEL, _invoke_partial)
#define ARENA_SIZE L2M_CAT(L2M_MODEL_UC, _ARENA_SIZE)
#define INPUT_LEN L2M_CAT(L2M_MODEL_UC, _INPUT_LEN)
#define OUTPUT_LEN L2M_CAT(L2M_MODEL_UC, _OUTPUT_LEN)
#define NUM_OPS L2M_CAT(L2M_MODEL_UC, _NUM_OPS)

static int expect_status(const char *what, int got, int want) {
    if (got != want) {
        fprintf(stderr, "status of %s: got %d, expected %d\n", what, got, want);
        return 1;
    }
    return 0;
}

/* The API's documented status codes, with exact-size buffers. */
static int check_api(const float *in, float *out, void *arena) {
    int bad = 0;
    /* a misaligned arena: 4 bytes into an 8-byte aligned block one word larger */
    unsigned char *big = (unsigned char *)malloc((size_t)ARENA_SIZE + 8u);
    if (big == NULL) return 1;
    bad |= expect_status("invoke(NULL input)", MODEL_INVOKE(NULL, out, arena), -1);
    bad |= expect_status("invoke(NULL output)", MODEL_INVOKE(in, NULL, arena), -1);
    bad |= expect_status("invoke(NULL arena)", MODEL_INVOKE(in, out, NULL), -1);
    bad |= expect_status("invoke(misaligned arena)", MODEL_INVOKE(in, out, big + 4), -2);
    bad |= expect_status("invoke_partial(NULL input)", MODEL_PARTIAL(NULL, arena, NUM_OPS), -1);
    for (int32_t n = 0; n <= NUM_OPS; ++n) {
        memset(arena, 0x5A, (size_t)ARENA_SIZE);
        bad |= expect_status("invoke_partial(n)", MODEL_PARTIAL(in, arena, n), 0);
    }
    free(big);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s input.bin output.bin\n", argv[0]);
        return 2;
    }
    FILE *fi = fopen(argv[1], "rb");
    FILE *fo = fopen(argv[2], "wb");
    float *in = (float *)malloc((size_t)INPUT_LEN * sizeof(float));
    float *out = (float *)malloc((size_t)OUTPUT_LEN * sizeof(float));
    void *arena = malloc((size_t)ARENA_SIZE > 0u ? (size_t)ARENA_SIZE : 1u);   /* malloc: 8-byte aligned */
    int rc = 0;
    if (fi == NULL || fo == NULL || in == NULL || out == NULL || arena == NULL) {
        fprintf(stderr, "cannot open files or allocate buffers\n");
        rc = 2;
    }
    unsigned char poison = 0x11u;
    int first = 1;
    while (rc == 0 && fread(in, sizeof(float), (size_t)INPUT_LEN, fi) == (size_t)INPUT_LEN) {
        if (first) {
            rc = check_api(in, out, arena) ? 3 : 0;
            first = 0;
        }
        memset(arena, poison, (size_t)ARENA_SIZE);
        poison = (unsigned char)(poison * 7u + 0x3Bu);
        memset(out, 0xFF, (size_t)OUTPUT_LEN * sizeof(float));
        const int st = MODEL_INVOKE(in, out, arena);
        if (st != 0) {
            fprintf(stderr, "invoke returned %d\n", st);
            rc = 3;
        } else if (fwrite(out, sizeof(float), (size_t)OUTPUT_LEN, fo) != (size_t)OUTPUT_LEN) {
            rc = 2;
        }
    }
    if (fi != NULL) fclose(fi);
    if (fo != NULL && fclose(fo) != 0 && rc == 0) rc = 2;
    free(in);
    free(out);
    free(arena);
    return rc;
}
