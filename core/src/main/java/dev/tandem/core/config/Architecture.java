package dev.tandem.core.config;

/** The model families Tandem runs; each has one class of model math in {@code dev.tandem.core.model}. */
public enum Architecture {
    MIXTRAL("MixtralForCausalLM", "mixtral"),
    DBRX("DbrxForCausalLM", "dbrx");

    public final String hfClass;
    public final String modelType;

    Architecture(String hfClass, String modelType) {
        this.hfClass = hfClass;
        this.modelType = modelType;
    }
}
