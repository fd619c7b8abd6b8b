package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads a completion request body as OpenAI defines it; fields it does not know are ignored,
 * fields it cannot honour (best_of > n, tools, structured output) are
 * refused with 400 naming them, so that no output silently differs from what was asked.
 */
public final class CompletionParamsParser {
    static final int MAX_STOP_STRINGS = 4;
    static final int MAX_LOGPROBS = 20;           // vLLM's default max_logprobs
    static final int MAX_CHOICES = 32;
    static final int MAX_PROMPTS = 64;
    private static final float MAX_TEMPERATURE = 2f;
    private static final float DEFAULT_TEMPERATURE = 1f;

    private CompletionParamsParser() {
    }

    /** {@code seeds} gives the seed of a request that names none. */
    public static CompletionParams parse(JsonNode body, boolean chat, java.util.function.LongSupplier seeds) {
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest("The request body must be a JSON object", null);
        }
        JsonFields f = new JsonFields(body);
        String model = f.string("model");
        List<Prompt> prompts = chat ? List.of(chatMessages(body.get("messages"))) : prompts(body.get("prompt"));
        Prompt prompt = prompts.getFirst();
        Integer maxTokens = f.positiveInt(chat && f.present("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
        Integer n = f.integer("n");
        if (n != null && (n < 1 || n > MAX_CHOICES)) {
            throw ApiError.badRequest("'n' must be in [1, " + MAX_CHOICES + "], got " + n, "n");
        }
        int choices = n == null ? 1 : n;
        Integer bestOf = f.integer("best_of");
        int logprobs = chat ? chatLogprobs(f) : completionLogprobs(body.get("logprobs"));
        boolean echo = !chat && Boolean.TRUE.equals(f.bool("echo"));
        boolean stream = Boolean.TRUE.equals(f.bool("stream"));
        if (bestOf != null && bestOf != choices) { // as vLLM: best_of candidates, the n of highest log-probability
            if (bestOf < choices || bestOf > MAX_CHOICES) {
                throw ApiError.badRequest("'best_of' must be in [n, " + MAX_CHOICES + "] (n is " + choices + "), got "
                        + bestOf, "best_of");
            }
            if (chat || stream || echo) {
                throw ApiError.badRequest("'best_of' above 'n' is for whole /v1/completions without echo (the"
                        + " candidates are ranked once all have ended)", "best_of");
            }
        }
        if (echo && prompt instanceof Prompt.Chat) {
            throw ApiError.badRequest("'echo' is for /v1/completions", "echo");
        }
        checkUnsupported(f, body);
        JsonNode streamOptions = body.get("stream_options");
        boolean includeUsage = false;
        if (streamOptions != null && !streamOptions.isNull()) {
            if (!streamOptions.isObject()) {
                throw ApiError.badRequest("'stream_options' must be an object", "stream_options");
            }
            includeUsage = Boolean.TRUE.equals(new JsonFields(streamOptions, "stream_options.").bool("include_usage"));
        }
        return new CompletionParams(chat, model, prompt, maxTokens, sampling(f, seeds), stop(body.get("stop")),
                stream, includeUsage, Boolean.TRUE.equals(f.bool("ignore_eos")),
                stopTokenIds(body.get("stop_token_ids")), Boolean.TRUE.equals(f.bool("include_stop_str_in_output")),
                logprobs, echo, choices, bestOf == null ? choices : bestOf, prompts);
    }

    /** Completions: {@code logprobs} is the number of most likely tokens to list (0-20), or null for none. */
    private static int completionLogprobs(JsonNode node) {
        if (node == null || node.isNull()) {
            return -1;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.intValue() < 0
                || node.intValue() > MAX_LOGPROBS) {
            throw ApiError.badRequest("'logprobs' must be an integer in [0, " + MAX_LOGPROBS + "], got " + node,
                    "logprobs");
        }
        return node.intValue();
    }

    /** Chat: {@code logprobs: true} with {@code top_logprobs} (0-20) most likely tokens; -1 for none. */
    private static int chatLogprobs(JsonFields f) {
        Boolean wanted = f.bool("logprobs");
        Integer top = f.integer("top_logprobs");
        if (top != null && (top < 0 || top > MAX_LOGPROBS)) {
            throw ApiError.badRequest("'top_logprobs' must be in [0, " + MAX_LOGPROBS + "], got " + top, "top_logprobs");
        }
        if (!Boolean.TRUE.equals(wanted)) {
            if (top != null && top > 0) {
                throw ApiError.badRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs");
            }
            return -1;
        }
        return top == null ? 0 : top;
    }

    private static SamplingParams sampling(JsonFields f, java.util.function.LongSupplier seeds) {
        Double temperature = f.number("temperature");
        if (temperature != null && !(temperature >= 0 && temperature <= MAX_TEMPERATURE)) {
            throw ApiError.badRequest("'temperature' must be in [0, 2], got " + temperature, "temperature");
        }
        Double topP = f.number("top_p");
        if (topP != null && !(topP > 0 && topP <= 1 && topP.floatValue() > 0)) { // sampled in float32
            throw ApiError.badRequest("'top_p' must be in (0, 1] and at least " + Float.MIN_VALUE + ", got " + topP,
                    "top_p");
        }
        Long seed = f.longInteger("seed");
        Integer topK = f.integer("top_k");
        if (topK != null && topK < -1) {
            throw ApiError.badRequest("'top_k' must be -1 or 0 (all tokens) or a count >= 1, got " + topK, "top_k");
        }
        Double minP = f.number("min_p");
        if (minP != null && !(minP >= 0 && minP <= 1)) {
            throw ApiError.badRequest("'min_p' must be in [0, 1], got " + minP, "min_p");
        }
        // without a seed every request samples anew (from the server's sequence), as OpenAI's and vLLM's do
        return new SamplingParams(temperature == null ? DEFAULT_TEMPERATURE : temperature.floatValue(),
                topP == null ? 1f : topP.floatValue(), seed == null ? seeds.getAsLong() : seed,
                topK == null || topK < 0 ? 0 : topK, minP == null ? 0f : minP.floatValue());
    }

    private static int[] stopTokenIds(JsonNode node) {
        if (node == null || node.isNull()) {
            return new int[0];
        }
        if (!node.isArray()) {
            throw ApiError.badRequest("'stop_token_ids' must be an array of token ids", "stop_token_ids");
        }
        return ids(node, "stop_token_ids", "'stop_token_ids' must be an array of token ids", 0);
    }

    /** {@code array}'s elements as ints of at least {@code min}; else 400 on {@code field}: "{mustBe}; element i is …". */
    private static int[] ids(JsonNode array, String field, String mustBe, int min) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = array.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < min) {
                throw ApiError.badRequest(mustBe + "; element " + i + " is " + id, field);
            }
            ids[i] = id.intValue();
        }
        return ids;
    }

    /** Completions: a string or ids, or an array of strings or of id arrays (several prompts). */
    private static List<Prompt> prompts(JsonNode node) {
        if (node == null || node.isNull()) {
            throw ApiError.badRequest("'prompt' is required", "prompt");
        }
        if (node.isArray() && !node.isEmpty() && (node.get(0).isTextual() || node.get(0).isArray())) {
            if (node.size() > MAX_PROMPTS) {
                throw ApiError.badRequest("At most " + MAX_PROMPTS + " prompts a request, got " + node.size(), "prompt");
            }
            List<Prompt> prompts = new ArrayList<>(node.size());
            for (JsonNode p : node) {
                if (!p.isTextual() && !p.isArray()) {
                    throw ApiError.badRequest("'prompt' must be a list of strings or of token id arrays", "prompt");
                }
                prompts.add(prompt(p));
            }
            return List.copyOf(prompts);
        }
        return List.of(prompt(node));
    }

    /** One completions prompt: a string or an array of token ids. */
    private static Prompt prompt(JsonNode node) {
        if (node.isTextual()) {
            if (node.asText().isEmpty()) {
                throw ApiError.badRequest("'prompt' is empty", "prompt");
            }
            return new Prompt.Text(node.asText());
        }
        if (!node.isArray()) {
            throw ApiError.badRequest("'prompt' must be a string or an array of token ids", "prompt");
        }
        if (node.isEmpty()) {
            throw ApiError.badRequest("'prompt' is empty", "prompt");
        }
        return new Prompt.Ids(ids(node, "prompt", "'prompt' must be a string or an array of token ids",
                Integer.MIN_VALUE)); // the range is checked against the model's vocabulary later
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper TOOL_CALLS =
            new com.fasterxml.jackson.databind.ObjectMapper();

    private static Prompt chatMessages(JsonNode node) {
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw ApiError.badRequest("'messages' must be a non-empty array of {role, content}", "messages");
        }
        List<ChatMessage> messages = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            String where = "messages[" + i + "]";
            JsonNode m = node.get(i);
            if (!m.isObject()) {
                throw ApiError.badRequest("'" + where + "' must be an object {role, content}", where);
            }
            JsonFields fields = new JsonFields(m, where + ".");
            String role = fields.string("role");
            if (role == null) {
                throw ApiError.badRequest("'" + where + ".role' is required", where + ".role");
            }
            JsonNode toolCalls = m.get("tool_calls");
            if (toolCalls != null && !toolCalls.isNull()) {   // OpenAI's assistant turn that called tools
                if (!toolCalls.isArray()) {
                    throw ApiError.badRequest("'" + where + ".tool_calls' must be an array", where + ".tool_calls");
                }
                JsonNode content = m.get("content");
                messages.add(new ChatMessage(role, content == null || content.isNull() ? null
                        : content(content, where + ".content"), TOOL_CALLS.convertValue(toolCalls,
                        new com.fasterxml.jackson.core.type.TypeReference<List<java.util.Map<String, Object>>>() {
                        })));
                continue;
            }
            messages.add(new ChatMessage(role, content(m.get("content"), where + ".content")));
        }
        return new Prompt.Chat(List.copyOf(messages));
    }

    /** A string, or OpenAI's array of parts of which only text parts are supported (joined by newlines). */
    private static String content(JsonNode node, String where) {
        if (node != null && node.isTextual()) {
            return node.asText();
        }
        if (node != null && node.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : node) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiError.badRequest("Only text content parts are supported in '" + where + "'", where);
                }
                text.append(text.isEmpty() ? "" : "\n").append(part.get("text").asText());
            }
            return text.toString();
        }
        throw ApiError.badRequest("'" + where + "' must be a string", where);
    }

    private static List<String> stop(JsonNode node) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        List<String> stops = new ArrayList<>();
        if (node.isTextual()) {
            stops.add(node.asText());
        } else if (node.isArray() && node.size() <= MAX_STOP_STRINGS) {
            for (JsonNode s : node) {
                if (!s.isTextual()) {
                    throw ApiError.badRequest("'stop' must be a string or an array of strings", "stop");
                }
                stops.add(s.asText());
            }
        } else {
            throw ApiError.badRequest("'stop' must be a string or an array of at most " + MAX_STOP_STRINGS
                    + " strings", "stop");
        }
        if (stops.contains("")) {
            throw ApiError.badRequest("'stop' strings must not be empty", "stop");
        }
        return List.copyOf(stops);
    }

    /**
     * Fields that would change the output if honoured are refused unless they ask for the default,
     * so that a client never gets a silently different completion.
     */
    private static void checkUnsupported(JsonFields f, JsonNode body) {
        for (String penalty : new String[] {"presence_penalty", "frequency_penalty", "repetition_penalty"}) {
            Double v = f.number(penalty);
            if (v != null && v != (penalty.equals("repetition_penalty") ? 1.0 : 0.0)) {
                throw ApiError.badRequest("'" + penalty + "' is not supported", penalty);
            }
        }
        JsonNode bias = body.get("logit_bias");
        if (bias != null && !bias.isNull() && !bias.isEmpty()) {
            throw ApiError.badRequest("'logit_bias' is not supported", "logit_bias");
        }
        JsonNode suffix = body.get("suffix");
        if (suffix != null && !suffix.isNull()) {
            throw ApiError.badRequest("'suffix' is not supported", "suffix");
        }
        for (String field : new String[] {"tools", "functions", "guided_json", "guided_regex", "guided_choice",
                "guided_grammar", "structured_outputs"}) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
                throw ApiError.badRequest("'" + field + "' is not supported: the output would not follow it", field);
            }
        }
        JsonNode toolChoice = body.get("tool_choice");
        if (toolChoice != null && !toolChoice.isNull() && !"none".equals(toolChoice.asText())) {
            throw ApiError.badRequest("'tool_choice' is not supported (only \"none\")", "tool_choice");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull() && !"text".equals(format.path("type").asText())) {
            throw ApiError.badRequest("'response_format' is not supported (only {\"type\": \"text\"})",
                    "response_format");
        }
    }

    /** Completions take an int, chat a boolean; null (and chat's false) mean none, which is all we do. */
}
