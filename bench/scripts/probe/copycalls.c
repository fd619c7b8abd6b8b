// What a fragmented DMA costs against one contiguous copy, on the lent GPU: driver API only.
// Host memory is a MAP_SHARED /dev/shm mapping page-locked with cuMemHostRegister, as Aeron's
// term buffers are. Each case: issue the copies, wait, 3000 times; prints the median in µs.
// Build: nvcc -O2 -o copycalls copycalls.c -lcuda -lpthread
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>

#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { const char *s; cuGetErrorString(r_, &s); \
  fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, s); exit(1); } } while (0)
#define ITERS 3000
#define MTU 8192
#define HDR 32
#define PAY (MTU - HDR)

static CUcontext ctx;
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static double median(double *v, int n) { qsort(v, n, sizeof(double), cmp); return v[n / 2]; }

static void copy2d(int toDev, char *host, size_t pitch, CUdeviceptr dev, size_t width, size_t rows, CUstream s) {
  CUDA_MEMCPY2D p; memset(&p, 0, sizeof p);
  if (toDev) { p.srcMemoryType = CU_MEMORYTYPE_HOST; p.srcHost = host; p.srcPitch = pitch;
               p.dstMemoryType = CU_MEMORYTYPE_DEVICE; p.dstDevice = dev; p.dstPitch = width; }
  else { p.srcMemoryType = CU_MEMORYTYPE_DEVICE; p.srcDevice = dev; p.srcPitch = width;
         p.dstMemoryType = CU_MEMORYTYPE_HOST; p.dstHost = host; p.dstPitch = pitch; }
  p.WidthInBytes = width; p.Height = rows;
  CK(cuMemcpy2DAsync(&p, s));
}
static void copy1(int toDev, char *host, CUdeviceptr dev, size_t n, CUstream s) {
  if (toDev) CK(cuMemcpyHtoDAsync(dev, host, n, s)); else CK(cuMemcpyDtoHAsync(host, dev, n, s));
}

// mode: 0 contiguous one call; 1 three calls (head-short first, 2D middle, last); 2 two calls (2D full + last);
// 3 one 2D call (last padded); 4 one 2D call at pitch == width (contiguous through 2D); 5 a call a fragment
static void frame(int mode, int toDev, char *host, CUdeviceptr dev, size_t bytes, CUstream s) {
  size_t head = 460;
  if (mode == 0) { copy1(toDev, host, dev, bytes, s); return; }
  if (mode == 4) { copy2d(toDev, host, PAY, dev, PAY, (bytes + PAY - 1) / PAY, s); return; }
  if (mode == 1) {
    size_t first = PAY - head; copy1(toDev, host + HDR + head, dev, first, s);
    size_t rest = bytes - first, full = rest / PAY, last = rest % PAY;
    if (full > 1) copy2d(toDev, host + MTU + HDR, MTU, dev + first, PAY, full, s);
    else if (full == 1) copy1(toDev, host + MTU + HDR, dev + first, PAY, s);
    if (last) copy1(toDev, host + (full + 1) * MTU + HDR, dev + first + full * PAY, last, s);
    return;
  }
  if (mode == 5) { for (size_t o = 0, f = 0; o < bytes; o += PAY, f++) copy1(toDev, host + f * MTU + HDR, dev + o, bytes - o < PAY ? bytes - o : PAY, s); return; }
  size_t full = bytes / PAY, last = bytes % PAY;
  if (mode == 3 && last) { full++; last = 0; }
  if (full > 1) copy2d(toDev, host + HDR, MTU, dev, PAY, full, s); else if (full) copy1(toDev, host + HDR, dev, PAY, s);
  if (last) copy1(toDev, host + full * MTU + HDR, dev + full * PAY, last, s);
}

static double run(int mode, int toDev, char *host, CUdeviceptr dev, size_t bytes, CUstream s, int sync) {
  static double t[ITERS]; CUevent ev; CK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
  for (int i = -200; i < ITERS; i++) {
    double a = now_us();
    frame(mode, toDev, host, dev, bytes, s);
    if (sync == 0) CK(cuStreamSynchronize(s));
    else if (sync == 1) { CK(cuEventRecord(ev, s)); CK(cuEventSynchronize(ev)); }
    else { CK(cuEventRecord(ev, s)); while (cuEventQuery(ev) == CUDA_ERROR_NOT_READY) {} }
    if (i >= 0) t[i] = now_us() - a;
  }
  CK(cuEventDestroy(ev));
  return median(t, ITERS);
}

struct duo { int toDev; char *host; CUdeviceptr dev; size_t bytes; double us; pthread_barrier_t *bar; };
static void *duo_main(void *arg) {
  struct duo *d = arg; CK(cuCtxSetCurrent(ctx)); CUstream s; CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  run(0, d->toDev, d->host, d->dev, d->bytes, s, 0);
  pthread_barrier_wait(d->bar);
  d->us = run(0, d->toDev, d->host, d->dev, d->bytes, s, 0);
  return NULL;
}

int main(void) {
  CK(cuInit(0)); CUdevice d; CK(cuDeviceGet(&d, 0)); CK(cuDevicePrimaryCtxRetain(&ctx, d)); CK(cuCtxSetCurrent(ctx));
  size_t hostBytes = 64 << 20;
  int fd = open("/dev/shm/copycalls.probe", O_RDWR | O_CREAT | O_TRUNC, 0600); ftruncate(fd, hostBytes);
  char *shm = mmap(NULL, hostBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); unlink("/dev/shm/copycalls.probe");
  memset(shm, 7, hostBytes);
  CK(cuMemHostRegister(shm, hostBytes, CU_MEMHOSTREGISTER_PORTABLE));
  char *pinned; CK(cuMemHostAlloc((void **)&pinned, hostBytes, CU_MEMHOSTALLOC_PORTABLE)); memset(pinned, 7, hostBytes);
  CUdeviceptr dev; CK(cuMemAlloc(&dev, 16 << 20)); CK(cuMemsetD8(dev, 3, 16 << 20));
  CUstream s; CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  const char *modes[] = {"contiguous 1 call", "3 calls (head first)", "2 calls (2D + last)", "1 2D call (padded)", "1 2D pitch==width", "a call a fragment"};
  size_t sizes[] = {16000, 256000, 1000000};
  printf("empty wait: stream sync %.2f us, event sync %.2f, event spin %.2f\n",
         run(-1, 0, shm, dev, 0, s, 0), run(-1, 0, shm, dev, 0, s, 1), run(-1, 0, shm, dev, 0, s, 2));
  { // call cost: 16 tiny copies then one wait, against 1
    double one = run(0, 0, shm, dev, 64, s, 0);
    static double t[ITERS];
    for (int i = -200; i < ITERS; i++) { double a = now_us(); for (int k = 0; k < 16; k++) copy1(0, shm + k * 4096, dev + k * 64, 64, s);
      CK(cuStreamSynchronize(s)); if (i >= 0) t[i] = now_us() - a; }
    printf("64 B copy + wait %.2f us; 16 of them + one wait %.2f us: %.2f us a call\n", one, median(t, ITERS), (median(t, ITERS) - one) / 15);
  }
  for (int hp = 0; hp < 2; hp++)
    for (int dir = 0; dir < 2; dir++)
      for (int z = 0; z < 3; z++) {
        printf("%s %s %7zu B:", hp ? "pinned" : "shm   ", dir ? "H2D" : "D2H", sizes[z]);
        for (int m = 0; m < 6; m++) printf("  [%d] %6.1f", m, run(m, dir, hp ? pinned : shm, dev, sizes[z], s, 0));
        printf("\n");
      }
  printf("modes: "); for (int m = 0; m < 6; m++) printf("[%d] %s; ", m, modes[m]); printf("\n");
  for (int z = 0; z < 3; z++) { // two threads at once: both D2H, or one each way
    for (int mix = 0; mix < 2; mix++) {
      pthread_barrier_t bar; pthread_barrier_init(&bar, NULL, 2);
      CUdeviceptr dev2; CK(cuMemAlloc(&dev2, 4 << 20));
      struct duo a = {0, shm, dev, sizes[z] * 2, 0, &bar}, b = {mix, shm + (32 << 20), dev2, sizes[z] * 2, 0, &bar};
      pthread_t ta, tb; pthread_create(&ta, NULL, duo_main, &a); pthread_create(&tb, NULL, duo_main, &b);
      pthread_join(ta, NULL); pthread_join(tb, NULL);
      printf("two threads %s, %zu B each: %.1f / %.1f us (alone %.1f)\n", mix ? "D2H | H2D" : "D2H | D2H", sizes[z] * 2, a.us, b.us,
             run(0, 0, shm, dev, sizes[z] * 2, s, 0));
      CK(cuMemFree(dev2)); pthread_barrier_destroy(&bar);
    }
  }
  CK(cuMemHostUnregister(shm)); return 0;
}
