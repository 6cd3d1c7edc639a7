/* QEMU TCG plugin for bench/trace.py: exact instructions of one `<name>_invoke`, split per call,
 * plus the lowest stack address written (stack high-water mark, as stack painting would find).
 *
 * Why a plugin: `-d exec,nochain` logs one line per executed block through a line-buffered
 * file, about 0.4 M blocks/s; a per-block callback here runs at emulation speed (100× faster).
 * The plugin API is declared below by hand (QEMU_PLUGIN_VERSION 1, QEMU 7.2), because Debian does
 * not package qemu-plugin.h; only the few entry points used are declared, with QEMU's ABI.
 *
 * Arguments (QEMU -plugin FILE,arg=...,arg=...):
 *   entry=HEX         address of <name>_invoke: the window opens the first time a block starts here
 *   body=LO-HI        (≤ 4) hex ranges of the invoke body (net_invoke, net_invoke_partial)
 *   stop=LO-HI        (≤ 4) hex ranges whose execution closes the window (the harness)
 *   stack=LO-HI       hex range of the stack region (__bss_end .. __stack_top)
 *   out=FILE          results: "total N", "ok 0|1", "stack_min_all A", "stack_min_win A",
 *                     then one "call PC N" per call made from the body (PC = callee's first block)
 * Counting rule (same as the TB-trace parser it replaces): every block executed from the window's
 * opening to its closing is counted once with its instruction count; a run of blocks outside the
 * body is one call, attributed to the first block's address.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                              void *userdata);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_RANGES 4
#define MAX_CALLS 65536

struct range { uint64_t lo, hi; };
struct tbinfo { uint64_t pc; uint64_t n; int cls; };   /* cls: 0 body, 1 stop, 2 other */

static struct range body[MAX_RANGES], stop[MAX_RANGES], stack;
static int n_body, n_stop;
static uint64_t entry, total, call_pc, call_n, stack_min_all = UINT64_MAX, stack_min_win = UINT64_MAX;
static int state, in_call, written;      /* state: 0 before, 1 in window, 2 done */
static uint64_t calls[MAX_CALLS][2];
static size_t n_calls, dropped;
static char out_path[512];

static int within(const struct range *r, int n, uint64_t pc) {
    for (int i = 0; i < n; i++) {
        if (pc >= r[i].lo && pc < r[i].hi) return 1;
    }
    return 0;
}

static void end_call(void) {
    if (!in_call) return;
    if (n_calls < MAX_CALLS) {
        calls[n_calls][0] = call_pc;
        calls[n_calls][1] = call_n;
        n_calls++;
    } else {
        dropped++;
    }
    in_call = 0;
}

static void on_exec(unsigned int vcpu, void *ud) {
    const struct tbinfo *t = ud;
    (void)vcpu;
    if (state == 2) return;
    if (state == 0) {
        if (t->pc != entry) return;
        state = 1;
    }
    if (t->cls == 1) {
        end_call();
        state = 2;
        return;
    }
    total += t->n;
    if (t->cls == 0) {
        end_call();
    } else if (!in_call) {
        in_call = 1;
        call_pc = t->pc;
        call_n = t->n;
    } else {
        call_n += t->n;
    }
}

static void on_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud) {
    (void)vcpu; (void)info; (void)ud;
    if (vaddr < stack.lo || vaddr >= stack.hi) return;
    if (vaddr < stack_min_all) stack_min_all = vaddr;
    if (state == 1 && vaddr < stack_min_win) stack_min_win = vaddr;
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    struct tbinfo *t = malloc(sizeof *t);   /* lives as long as QEMU: blocks may run until exit */
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    if (t == NULL) return;
    t->pc = qemu_plugin_tb_vaddr(tb);
    t->n = n;
    t->cls = within(body, n_body, t->pc) ? 0 : within(stop, n_stop, t->pc) ? 1 : 2;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, t);
    if (stack.hi > stack.lo) {
        for (size_t i = 0; i < n; i++) {
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_store,
                                             QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_W, NULL);
        }
    }
}

static void write_out(void) {
    if (written || out_path[0] == '\0') return;
    written = 1;
    end_call();
    FILE *f = fopen(out_path, "w");
    if (f == NULL) return;
    fprintf(f, "total %llu\nok %d\ndropped %llu\n", (unsigned long long)total, state == 2,
            (unsigned long long)dropped);
    fprintf(f, "stack_min_all %llx\nstack_min_win %llx\n", (unsigned long long)stack_min_all,
            (unsigned long long)stack_min_win);
    for (size_t i = 0; i < n_calls; i++) {
        fprintf(f, "call %llx %llu\n", (unsigned long long)calls[i][0], (unsigned long long)calls[i][1]);
    }
    fclose(f);
}

static void on_exit_cb(qemu_plugin_id_t id, void *ud) { (void)id; (void)ud; write_out(); }

/* Semihosting SYS_EXIT ends QEMU with exit() without running plugin atexit callbacks. */
__attribute__((destructor)) static void on_unload(void) { write_out(); }

static int parse_range(const char *s, struct range *r) {
    char *end;
    r->lo = strtoull(s, &end, 16);
    if (*end != '-') return -1;
    r->hi = strtoull(end + 1, NULL, 16);
    return 0;
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "entry=", 6) == 0) {
            entry = strtoull(a + 6, NULL, 16);
        } else if (strncmp(a, "body=", 5) == 0 && n_body < MAX_RANGES) {
            if (parse_range(a + 5, &body[n_body++]) != 0) return -1;
        } else if (strncmp(a, "stop=", 5) == 0 && n_stop < MAX_RANGES) {
            if (parse_range(a + 5, &stop[n_stop++]) != 0) return -1;
        } else if (strncmp(a, "stack=", 6) == 0) {
            if (parse_range(a + 6, &stack) != 0) return -1;
        } else if (strncmp(a, "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", a + 4);
        } else {
            fprintf(stderr, "qcount: unknown argument %s\n", a);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
