package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.BackendSpec;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which device each node process of a local cluster computes on: {@code --devices 0,1} hands the
 * devices out in turn over every node in start order (each group's expert nodes, then its
 * attention nodes, then the prompt machines), and {@code --attention-devices},
 * {@code --expert-devices}, {@code --prompt-devices} do the same within one role, taking
 * precedence. A bare number is a CUDA ordinal. Several nodes may share a device. Nodes no list
 * covers take {@code --device}.
 */
final class DevicePlacement {
    @Option(names = "--devices", split = ",", paramLabel = "DEVICE",
            description = "Devices the node processes take in turn, in start order (e.g. 0,1 or cuda:0,cpu); a number is a CUDA ordinal.")
    List<String> all;

    @Option(names = "--attention-devices", split = ",", paramLabel = "DEVICE", description = "Devices the attention nodes take in turn.")
    List<String> attention;

    @Option(names = "--expert-devices", split = ",", paramLabel = "DEVICE", description = "Devices the expert nodes take in turn.")
    List<String> expert;

    @Option(names = "--prompt-devices", split = ",", paramLabel = "DEVICE", description = "Devices the prompt machines take in turn.")
    List<String> prompt;

    enum Role { ATTENTION, EXPERT, PROMPT }

    private int started;
    private final int[] startedOf = new int[Role.values().length];

    /** The device of the next node of {@code role} to start; null: the cluster's (--device). */
    String next(Role role) {
        List<String> own = switch (role) {
            case ATTENTION -> attention;
            case EXPERT -> expert;
            case PROMPT -> prompt;
        };
        int n = startedOf[role.ordinal()]++;
        int overall = started++;
        if (own != null && !own.isEmpty()) {
            return canonical(own.get(n % own.size()));
        }
        return all == null || all.isEmpty() ? null : canonical(all.get(overall % all.size()));
    }

    /** Starts the turn over, for a second cluster from the same options. */
    DevicePlacement reset() {
        started = 0;
        java.util.Arrays.fill(startedOf, 0);
        return this;
    }

    private static String canonical(String device) {
        String d = device.trim().toLowerCase(Locale.ROOT);
        try {
            return new BackendSpec(d.matches("\\d+") ? "cuda:" + d : d, null, 0).device();
        } catch (TandemException e) {
            throw new TandemException("a --devices, --attention-devices, --expert-devices or --prompt-devices entry: "
                    + e.getMessage());
        }
    }

    /** Per node of one AFD group, in start order: its expert nodes' devices, then its attention nodes'. */
    record Group(String[] expert, String[] attention) {
    }

    Group nextGroup(int experts, int attentionNodes) {
        String[] e = new String[experts];
        String[] a = new String[attentionNodes];
        for (int i = 0; i < experts; i++) {
            e[i] = next(Role.EXPERT);
        }
        for (int i = 0; i < attentionNodes; i++) {
            a[i] = next(Role.ATTENTION);
        }
        return new Group(e, a);
    }

    /** Every list's entries, checked (a bad one fails before any process starts). */
    void check() {
        List<List<String>> lists = new ArrayList<>();
        for (List<String> l : java.util.Arrays.asList(all, attention, expert, prompt)) {
            if (l != null) {
                lists.add(l);
            }
        }
        lists.forEach(l -> l.forEach(DevicePlacement::canonical));
    }
}
