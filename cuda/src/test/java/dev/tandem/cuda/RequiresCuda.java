package dev.tandem.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs GPU tests only where a CUDA device is found; elsewhere (CI) they are skipped with one line
 * that says why. {@code -Dtandem.requireGpu=true} ({@code ./tandem test-gpu}) runs them anyway,
 * so that a GPU run without a usable device fails instead of skipping.
 */
public final class RequiresCuda implements ExecutionCondition {
    private static volatile boolean announced;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String reason = new CudaProvider().unavailableReason();
        if (reason == null || Boolean.getBoolean("tandem.requireGpu")) {
            return ConditionEvaluationResult.enabled("CUDA device present");
        }
        if (!announced) {
            announced = true;
            System.err.println("GPU tests skipped (no CUDA device here; ./tandem test-gpu runs them on a GPU machine): " + reason);
        }
        return ConditionEvaluationResult.disabled("GPU test skipped: " + reason);
    }
}
