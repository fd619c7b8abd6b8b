package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
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

    /**
     * The device of the node that is the {@code roleIndex}-th of its role and the
     * {@code overallIndex}-th to start; null: the cluster's (--device).
     */
    String device(Role role, int roleIndex, int overallIndex) {
        List<String> own = switch (role) {
            case ATTENTION -> attention;
            case EXPERT -> expert;
            case PROMPT -> prompt;
        };
        if (own != null && !own.isEmpty()) {
            return canonical(own.get(roleIndex % own.size()));
        }
        return all == null || all.isEmpty() ? null : canonical(all.get(overallIndex % all.size()));
    }

    /**
     * {@code config}, AFD group {@code group} of equal groups, with each node's device: the
     * groups start one after another, each its expert nodes and then its attention nodes.
     */
    ClusterConfig place(ClusterConfig config, int group) {
        int experts = config.expertNodes().size();
        int attentionNodes = config.attentionNodes().size();
        int first = group * (experts + attentionNodes);
        return config.withNodeDevices(i -> device(Role.ATTENTION, group * attentionNodes + i, first + experts + i),
                i -> device(Role.EXPERT, group * experts + i, first + i));
    }

    /** Prompt machine {@code machine}'s device, after {@code groupNodes} nodes of the token groups started. */
    String promptMachine(int machine, int groupNodes) {
        return device(Role.PROMPT, machine, groupNodes + machine);
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
