package dev.tandem.cli;

/** The little JSON the CLI prints. */
final class Json {
    private Json() {
    }

    static String array(int[] values) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            sb.append(i == 0 ? "" : ",").append(values[i]);
        }
        return sb.append(']').toString();
    }
}
