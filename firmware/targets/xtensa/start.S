/* Xtensa LX106 start for QEMU `-M sim -cpu lx106`: the sim machine starts at the reset vector
 * 0x50000000 (not the ELF entry), so .reset jumps to _start. Exception vectors at VECBASE
 * (0x40000000) exit with code 254 through simcall, like the Cortex-M fault handler. */
    .section .reset, "ax"
    .global _reset
_reset:
    j _start

    .section .vectors, "ax"
    .global l2m_vectors
l2m_vectors:
    .org 0x10
    j l2m_fault
    .org 0x20
    j l2m_fault
    .org 0x30
    j l2m_fault
    .org 0x50
    j l2m_fault
    .org 0x70
    j l2m_fault
    .org 0x80
l2m_fault:
    movi a2, 1          /* SYS_exit */
    movi a3, 254
    simcall
1:  j 1b

    .section .text.start, "ax"
    .global _start
    .align 4
_start:
    movi a1, __stack_top
    movi a2, __bss_start
    movi a3, __bss_end
    movi a4, 0
2:  bgeu a2, a3, 3f
    s32i a4, a2, 0
    addi a2, a2, 4
    j 2b
3:  call0 main
    call0 l2m_board_exit
4:  j 4b
