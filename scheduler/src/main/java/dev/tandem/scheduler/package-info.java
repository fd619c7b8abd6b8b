/**
 * The scheduler role: the OpenAI-compatible HTTP API, admission and Splitwise routing across
 * prompt, token and mixed pools. {@code engine}: where completions run; {@code http}: the API on
 * Netty (the only package that sees Netty); {@code metrics}: what /metrics shows.
 */
package dev.tandem.scheduler;
