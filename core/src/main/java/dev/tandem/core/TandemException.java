package dev.tandem.core;

/**
 * An error a user can act on: the message names the file, tensor or field at fault.
 * The CLI prints the message alone; the cause keeps the stack for {@code --verbose}.
 */
public class TandemException extends RuntimeException {
    public TandemException(String message) {
        super(message);
    }

    public TandemException(String message, Throwable cause) {
        super(message, cause);
    }
}
