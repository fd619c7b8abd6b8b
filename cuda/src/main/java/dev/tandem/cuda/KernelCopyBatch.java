package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Rows to copy between device memory and page-locked host memory mapped for kernels, gathered into
 * one {@code copy_rows} launch (kernels.cu): a block a row, the batch passed by value as the kernel's
 * parameter, so a launch moves up to {@value #ROWS} rows where the DMA engine would take a driver call
 * for each strided run. A row longer than {@value #ROW_BYTES} bytes is split. One caller thread.
 */
final class KernelCopyBatch {
    static final int ROWS = 160;              // CopyBatch.rows in kernels.cu: 8 + 160 · 24 B of parameters
    private static final long ROW_BYTES = 32 * 1024;
    private static final int THREADS = 256;
    private static final long BATCH_BYTES = 8 + ROWS * 24L;

    private final CudaDriver driver;
    private final MemorySegment function;
    private final MemorySegment batch;    // struct CopyBatch
    private final MemorySegment pointers; // the launch's parameter list: one pointer, to batch
    private int count;

    KernelCopyBatch(CudaDriver driver, MemorySegment function, Arena arena) {
        this.driver = driver;
        this.function = function;
        this.batch = arena.allocate(BATCH_BYTES, 16);
        this.pointers = arena.allocate(ADDRESS);
        pointers.set(ADDRESS, 0, batch);
    }

    /** Queue {@code bytes} from {@code src} to {@code dst} (device addresses, host ones mapped), launching when full. */
    void add(long dst, long src, long bytes, MemorySegment stream) {
        for (long done = 0; done < bytes; done += ROW_BYTES) {
            if (count == ROWS) {
                launch(stream);
            }
            long offset = 8 + count * 24L;
            batch.set(JAVA_LONG, offset, dst + done);
            batch.set(JAVA_LONG, offset + 8, src + done);
            batch.set(JAVA_LONG, offset + 16, Math.min(ROW_BYTES, bytes - done));
            count++;
        }
    }

    /** Launch what is queued on {@code stream}: the parameters are copied at the launch, so the batch is free again. */
    void launch(MemorySegment stream) {
        if (count == 0) {
            return;
        }
        batch.set(JAVA_LONG, 0, count);
        driver.launch(function, count, 1, 1, THREADS, 0, stream, pointers, "copy_rows");
        count = 0;
    }
}
