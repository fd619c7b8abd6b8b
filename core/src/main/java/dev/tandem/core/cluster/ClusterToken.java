package dev.tandem.core.cluster;

import dev.tandem.core.TandemException;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The secret a cluster's scheduler and nodes share, so that a node serves only a peer that knows
 * it: the node sends a random challenge, the peer answers with HMAC-SHA256 over it, keyed by the
 * token. The token comes from {@code --cluster-token-file} or {@code TANDEM_CLUSTER_TOKEN}.
 */
public final class ClusterToken {
    public static final String ENV = "TANDEM_CLUSTER_TOKEN";
    private static final String DOMAIN = "tandem-node-auth/v1\n";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] secret;

    private ClusterToken(byte[] secret) {
        if (secret.length < 16) {
            throw new TandemException("a cluster token needs at least 16 bytes, got " + secret.length);
        }
        this.secret = secret;
    }

    /** From {@code file} (its content, trimmed), else from {@code TANDEM_CLUSTER_TOKEN}; null when neither is given. */
    public static ClusterToken load(Path file) {
        if (file != null) {
            try {
                return new ClusterToken(Files.readString(file).trim().getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new TandemException("cannot read the cluster token file " + file + ": " + e.getMessage(), e);
            }
        }
        String env = System.getenv(ENV);
        return env == null || env.isBlank() ? null : new ClusterToken(env.trim().getBytes(StandardCharsets.UTF_8));
    }

    public static ClusterToken of(String secret) {
        return new ClusterToken(secret.getBytes(StandardCharsets.UTF_8));
    }

    /** 32 random bytes, hex: what a node asks a connecting peer to sign. */
    public static String challenge() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** HMAC-SHA256 of {@code challenge}, hex. */
    public String answer(String challenge) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal((DOMAIN + challenge).getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this Java runtime", e);
        }
    }

    /** Whether {@code answer} signs {@code challenge} with this token (in constant time). */
    public boolean verifies(String challenge, String answer) {
        return answer != null && MessageDigest.isEqual(answer(challenge).getBytes(StandardCharsets.US_ASCII),
                answer.getBytes(StandardCharsets.US_ASCII));
    }
}
