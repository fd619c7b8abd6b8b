package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;
import dev.tandem.core.tokenizer.AddedTokens.AddedToken;
import dev.tandem.core.tokenizer.AddedTokens.Segment;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A Hugging Face tokenizer read from {@code tokenizer.json}: the pipeline it describes (added
 * tokens, normalizer, pre-tokenizer, BPE model, post-processor, decoder) run in Java, giving the
 * ids and text the {@code tokenizers} library gives. An unsupported component type fails at load
 * time with a {@link TandemException} naming it. Thread-safe: encoding and decoding share only
 * immutable tables and a concurrent word cache.
 */
public final class Tokenizer {
    static final String FILE = "tokenizer.json";

    private final BpeModel model;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final PostProcessor postProcessor;
    private final Decoder decoder;
    /** Added tokens matched on the raw text ({@code normalized: false}), then on normalized text. */
    private final AddedTokens rawAddedTokens;
    private final AddedTokens normalizedAddedTokens;
    /** Token text by id; null where no token has the id. */
    private final String[] tokens;
    private final boolean[] special;
    private final OptionalInt bosTokenId;
    private final OptionalInt eosTokenId;
    private final Optional<ChatTemplate> chatTemplate;
    private final String bosToken;   // the names tokenizer_config.json gives them ("" where it does not)
    private final String eosToken;

    private Tokenizer(Path dir, JsonNode root, TokenizerConfig config) {
        String file = dir.resolve(FILE).toString();
        JsonNode modelNode = root.path("model");
        String modelType = modelNode.path("type").asText(modelNode.has("merges") ? "BPE" : "");
        if (!modelType.equals("BPE")) {
            throw Components.unsupported("model", modelType, file);
        }
        model = BpeModel.fromJson(modelNode, file);
        normalizer = Normalizer.fromJson(root.get("normalizer"), "normalizer", file);
        preTokenizer = PreTokenizer.fromJson(root.get("pre_tokenizer"), "pre_tokenizer", file);
        postProcessor = PostProcessor.fromJson(root.get("post_processor"), "post_processor", file);
        decoder = Decoder.fromJson(root.get("decoder"), "decoder", file);

        List<AddedToken> added = readAddedTokens(root.path("added_tokens"), file);
        int size = 0;
        for (int id : model.vocab().values()) {
            size = Math.max(size, id + 1);
        }
        for (AddedToken t : added) {
            size = Math.max(size, t.id() + 1);
        }
        tokens = new String[size];
        special = new boolean[size];
        model.vocab().forEach((token, id) -> tokens[id] = token);
        for (AddedToken t : added) {
            tokens[t.id()] = t.content();
            special[t.id()] = t.special();
        }
        List<AddedToken> raw = added.stream().filter(t -> !t.normalized()).toList();
        List<AddedToken> normalized = added.stream().filter(AddedToken::normalized).toList();
        rawAddedTokens = new AddedTokens(raw, raw.stream().map(AddedToken::content).toList());
        normalizedAddedTokens = new AddedTokens(normalized, normalized.stream().map(t -> normalizer.normalize(t.content())).toList());

        String configFile = dir.resolve(TokenizerConfig.FILE).toString();
        bosTokenId = idOfName(config.bosToken(), configFile, "bos_token", added);
        eosTokenId = idOfName(config.eosToken(), configFile, "eos_token", added);
        bosToken = config.bosToken().orElse("");
        eosToken = config.eosToken().orElse("");
        chatTemplate = config.chatTemplate().map(template -> new JinjaChatTemplate(template, bosToken, eosToken));
    }

    /** Reads {@code dir/tokenizer.json} and, if present, {@code dir/tokenizer_config.json}. */
    public static Tokenizer load(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new TandemException(file + ": not found (a tokenizer directory holds tokenizer.json)");
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode root = TokenizerConfig.readObject(file, json);
        return new Tokenizer(dir, root, TokenizerConfig.read(dir, json));
    }

    private static List<AddedToken> readAddedTokens(JsonNode array, String file) {
        List<AddedToken> out = new ArrayList<>();
        if (array.isMissingNode() || array.isNull()) {
            return out;
        }
        for (JsonNode t : Components.elements(array, "added_tokens", file)) {
            if (!t.path("id").isInt() || !t.path("content").isTextual()) {
                throw new TandemException(file + ": added_tokens entries need an integer id and a content string, got " + t);
            }
            boolean special = t.path("special").asBoolean(false);
            // Hugging Face's default: special tokens match the raw text, other added tokens the normalized text
            out.add(new AddedToken(t.get("id").asInt(), t.get("content").asText(), t.path("single_word").asBoolean(false),
                    t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("normalized").asBoolean(!special), special));
        }
        return out;
    }

    private OptionalInt idOfName(Optional<String> name, String configFile, String field, List<AddedToken> added) {
        if (name.isEmpty()) {
            return OptionalInt.empty();
        }
        for (AddedToken t : added) {
            if (t.content().equals(name.get())) {
                return OptionalInt.of(t.id());
            }
        }
        Integer id = model.vocab().get(name.get());
        if (id == null) {
            throw new TandemException(configFile + ": " + field + " '" + name.get() + "' is not a token of " + FILE);
        }
        return OptionalInt.of(id);
    }

    /** The ids of {@code text} without special tokens, as {@code add_special_tokens=False}. */
    public int[] encode(String text) {
        return encode(text, false);
    }

    /** With {@code addSpecialTokens}, the post-processor adds its tokens (Mixtral's BOS, for one). */
    public int[] encode(String text, boolean addSpecialTokens) {
        Objects.requireNonNull(text, "text");
        IntList ids = new IntList(text.length() / 3 + 4);
        List<String> words = new ArrayList<>();
        for (Segment raw : rawAddedTokens.split(text)) {
            if (raw.isToken()) {
                ids.add(raw.tokenId());
                continue;
            }
            for (Segment piece : normalizedAddedTokens.split(normalizer.normalize(raw.text()))) {
                if (piece.isToken()) {
                    ids.add(piece.tokenId());
                    continue;
                }
                words.clear();
                preTokenizer.split(piece.text(), raw.start() == 0 && piece.start() == 0, words);
                for (String word : words) {
                    ids.addAll(model.tokenize(word));
                }
            }
        }
        int[] out = ids.toArray();
        return addSpecialTokens ? postProcessor.addSpecialTokens(out) : out;
    }

    /** The text of {@code ids}, special tokens included. */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /**
     * The text of {@code ids} through tokenizer.json's decoder. Ids inside the vocabulary range
     * that no token has are skipped, as Hugging Face does; ids outside it are an error.
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> kept = new ArrayList<>(ids.length);
        for (int id : ids) {
            if (id < 0 || id >= tokens.length) {
                throw new TandemException("token id " + id + " is outside the vocabulary [0, " + tokens.length + ")");
            }
            String token = keptToken(id, skipSpecialTokens);
            if (token != null) {
                kept.add(token);
            }
        }
        return decodeTokens(kept);
    }

    /**
     * The most characters one token's text holds (a byte-level or byte-fallback token's text is no
     * shorter than the input it stands for): a text of n characters is at least n / this tokens,
     * so a prompt too long for the context is known before it is tokenized.
     */
    public int longestTokenChars() {
        int longest = 1;
        for (String token : tokens) {
            if (token != null) {
                longest = Math.max(longest, token.length());
            }
        }
        return longest;
    }

    /** Largest id + 1, added tokens included. */
    public int vocabSize() {
        return tokens.length;
    }

    /** The id of tokenizer_config.json's {@code bos_token}, if it names one. */
    public OptionalInt bosTokenId() {
        return bosTokenId;
    }

    /** The id of tokenizer_config.json's {@code eos_token}, if it names one. */
    public OptionalInt eosTokenId() {
        return eosTokenId;
    }

    /** A decoder for ids that arrive one at a time; it skips special tokens. */
    public StreamingDecoder streamingDecoder() {
        return new StreamingDecoder(this);
    }

    /** A streaming decoder for the ids that follow {@code prompt} (see {@link StreamingDecoder}). */
    public StreamingDecoder streamingDecoder(int[] prompt) {
        return new StreamingDecoder(this, prompt);
    }

    /**
     * The chat template of tokenizer_config.json, empty when it has none. A template of a family
     * Tandem does not know is present, but its {@code render} throws a {@link TandemException}.
     */
    /** The Jinja template {@code template} (a {@code --chat-template} file's) with this tokenizer's BOS and EOS names. */
    public ChatTemplate chatTemplate(String template) {
        return new JinjaChatTemplate(template, bosToken, eosToken);
    }

    public Optional<ChatTemplate> chatTemplate() {
        return chatTemplate;
    }

    /** The token text of {@code id}, or null when it is skipped (no such token, or special and skipped). */
    String keptToken(int id, boolean skipSpecialTokens) {
        if (id < 0 || id >= tokens.length || (skipSpecialTokens && special[id])) {
            return null;
        }
        return tokens[id];
    }

    String decodeTokens(List<String> kept) {
        return String.join("", decoder.decodeChain(kept));
    }

    Decoder decoder() {
        return decoder;
    }

    Map<String, Integer> vocab() {
        return model.vocab();
    }
}
