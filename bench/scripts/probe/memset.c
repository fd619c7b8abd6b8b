// One core's memset bandwidth on the lent machine: what the Aeron driver's conductor can zero a second,
// since it zeroes every byte an IPC subscriber has consumed (IpcPublication.cleanBufferTo).
// Build: gcc -O2 -o memset memset.c
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
  size_t total = 256u << 20;
  char *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(buf, 1, total);
  size_t chunks[] = {64u << 10, 1u << 20, 8u << 20};
  for (int c = 0; c < 3; c++) {
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
      double t0 = now();
      for (size_t off = 0; off + chunks[c] <= total; off += chunks[c]) memset(buf + off, 0, chunks[c]);
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("memset %zu KiB chunks over 256 MiB: %.1f GB/s\n", chunks[c] >> 10, total / best / 1e9);
  }
  return 0;
}
