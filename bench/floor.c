/* bench/floor.c: the floor under bench/scale.sh's times. A static x86_64 program that does
 * nothing but exit 0 (exit_group, no C library): timed the way the tools are, it is what
 * posix_spawn, execve and wait4 cost alone, which no tool can go below.
 *   cc -O2 -static -nostdlib -o floor bench/floor.c */
void _start(void)
{
    __asm__ volatile("mov $231, %eax\n\txor %edi, %edi\n\tsyscall");
}
