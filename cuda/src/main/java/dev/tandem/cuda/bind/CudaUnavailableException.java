package dev.tandem.cuda.bind;

import dev.tandem.core.TandemException;

/** No CUDA here: a library, the driver or a device is missing. The message names what was looked for. */
public final class CudaUnavailableException extends TandemException {
    public CudaUnavailableException(String message) {
        super(message);
    }
}
