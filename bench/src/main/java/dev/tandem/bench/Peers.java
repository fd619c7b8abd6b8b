package dev.tandem.bench;

import dev.tandem.core.TandemException;

/**
 * The benchmark peers (JMH, Jlama) are optional dependencies, kept out of the shipped runtime:
 * a benchmark that needs one says how to build it in, rather than failing on a missing class.
 */
public final class Peers {
    static final String JMH = "org.openjdk.jmh.runner.Runner";
    static final String JLAMA = "com.github.tjake.jlama.model.AbstractModel";

    private Peers() {
    }

    public static boolean present(String className) {
        try {
            Class.forName(className, false, Peers.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError missing) {
            return false;
        }
    }

    static void require(String className, String what) {
        if (!present(className)) {
            throw new TandemException(what + " is not in this build: the benchmark peers are left out of the runtime."
                    + " Build them in with TANDEM_MAVEN_ARGS=-Ppeers ./tandem … (or ./mvnw -Ppeers package)");
        }
    }
}
