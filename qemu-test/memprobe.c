// tlpstub-memprobe: a process whose user memory the QEMU tests read through tlpstub
// (`monitor task PID` + `x/s`, qemu-test/bt_test.sh), and which panics the guest on request.
//
// It forks; the child keeps a known string and a counter (one more every 50 ms) in its data,
// and prints, as a serial-console section, its pid, their addresses and the physical address
// of a trigger word (from /proc/self/pagemap: root sees PFNs). The parent exits once the
// child has printed, so the init script goes on. When the host writes kMemprobeMagic into the
// trigger word (in the guest's shared RAM file), the child prints the counter's last value and
// crashes the kernel through /proc/sysrq-trigger: the panicking task is this process, in a
// write() system call, and the counter stays at the printed value.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define kMemprobeMagic 0x7470616e69632121ull  // "!!cinapt"

static char known[64] = "tlpstub-memprobe: the known string";
static volatile uint64_t counter = 1;
static volatile uint64_t trigger;

static uint64_t physical(const volatile void* va) {
  const uint64_t v = (uint64_t)(uintptr_t)va;
  uint64_t e = 0;
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0 || pread(fd, &e, 8, (off_t)(v / 4096 * 8)) != 8) e = 0;
  if (fd >= 0) close(fd);
  if (!(e >> 63)) return 0;  // not present
  return (e & ((1ull << 55) - 1)) * 4096 + v % 4096;
}

int main(void) {
  int p[2];
  if (pipe(p) != 0) return 1;
  pid_t child = fork();
  if (child < 0) return 1;
  if (child > 0) {  // wait until the child has printed, then let init go on
    char c;
    close(p[1]);
    return read(p[0], &c, 1) == 1 ? 0 : 1;
  }
  close(p[0]);
  mlockall(MCL_CURRENT | MCL_FUTURE);  // keep the pages where the test writes
  trigger = 0;
  printf("==TLPSTUB-BEGIN memprobe==\n");
  printf("pid=%d\nstring=%p\ncounter=%p\ntrigger=%p\ntrigger_pa=%#llx\ntext=%s\n",
         (int)getpid(), (void*)known, (void*)&counter, (void*)&trigger,
         (unsigned long long)physical(&trigger), known);
  printf("==TLPSTUB-END memprobe==\n");
  fflush(stdout);
  if (write(p[1], "x", 1) != 1) return 1;
  close(p[1]);
  const struct timespec tick = {0, 50 * 1000 * 1000};
  for (;;) {
    if (trigger == kMemprobeMagic) {
      printf("==TLPSTUB-MEMPROBE-CRASH counter=%llu==\n", (unsigned long long)counter);
      fflush(stdout);
      int fd = open("/proc/sysrq-trigger", O_WRONLY);
      if (fd >= 0 && write(fd, "c", 1) == 1) return 0;  // not reached: the kernel panics
      printf("memprobe: sysrq-trigger failed\n");
      return 1;
    }
    counter = counter + 1;
    nanosleep(&tick, NULL);
  }
}
