package dev.tandem.cuda.bind;

import dev.tandem.core.TandemException;

/** A CUDA, NVRTC or cuBLAS call that returned an error; the message names the call and the error. */
public final class CudaException extends TandemException {
    private final int code;

    public CudaException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The library's own status code (CUresult, nvrtcResult or cublasStatus_t). */
    public int code() {
        return code;
    }
}
