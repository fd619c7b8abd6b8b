package dev.tandem.scheduling;

/**
 * Where one request runs.
 *
 * @param kind          how its prefill and decode are split
 * @param promptMachine the prompt machine that runs its prefill (SPLIT) or all of it (ON_PROMPT); −1 otherwise
 * @param tokenMachine  the token machine that runs its decode (SPLIT) or all of it (ON_TOKEN); −1 otherwise
 * @param promptTokens  what it holds on the prompt side until prefill ends
 * @param totalTokens   prompt + most generated tokens: the KV positions reserved for it
 */
public record Route(Kind kind, int promptMachine, int tokenMachine, int promptTokens, int totalTokens) {
    public enum Kind {
        /** Prefill on a prompt machine, KV streamed layer by layer to a token machine that decodes. */
        SPLIT,
        /** All of it on a prompt machine lent to the mixed pool (the token side had no room). */
        ON_PROMPT,
        /** All of it on a token machine lent to the mixed pool (the prompt side was backed up). */
        ON_TOKEN
    }
}
