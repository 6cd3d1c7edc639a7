/* RV32 bare-metal start for QEMU virt (-bios none): gp/sp, trap vector, .data copy, .bss clear,
 * then l2m_board_exit(main()). CSR writes use .insn so -march needs no _zicsr. */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la t0, l2m_trap
    .insn i 0x73, 1, x0, t0, 0x305      /* csrw mtvec, t0 */
    la t0, __data_load
    la t1, __data_start
    la t2, __data_end
1:  bgeu t1, t2, 2f
    lw t3, 0(t0)
    sw t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j 1b
2:  la t0, __bss_start
    la t1, __bss_end
3:  bgeu t0, t1, 4f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 3b
4:  call main
    call l2m_board_exit
5:  j 5b

    /* Any exception (illegal instruction, misaligned or bad access): exit 254 like Cortex-M. */
    .balign 4
    .globl l2m_trap
l2m_trap:
    la sp, __stack_top
    call l2m_fault_handler
6:  j 6b
