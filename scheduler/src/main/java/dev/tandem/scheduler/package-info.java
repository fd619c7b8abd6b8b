/**
 * The scheduler role: the OpenAI-compatible HTTP API, admission and Splitwise routing across
 * prompt, token and mixed pools. Arrives with the serving issue.
 */
package dev.tandem.scheduler;
